// The NMI path for CPU0, shipped whole: asm/nmi_entry.asm is the NMI gate's entry (it saves the
// GPRs into an NmiFrame, calls the kernel's smpboot_nmi_dispatch, restores, IRETQ) and holds the
// park loop every offline CPU waits in; take_nmi_wake turns the frame of an NMI that is a wake
// into the record entry. NMI delivery and the frame: Intel SDM Vol. 3A 7.14 "Exception and
// Interrupt Handling in 64-bit Mode" (7.14.2 "64-Bit Mode Stack Frame"), 7.7 "Nonmaskable
// Interrupt (NMI)" (NMIs stay blocked until the next IRET). It does not install the IDT gate.
//
// A kernel points its NMI IDT gate (vector 2) at smpboot_nmi_entry and defines
//
//   extern "C" void smpboot_nmi_dispatch(smpboot::NmiFrame* frame) {
//     if (smpboot::take_nmi_wake(cpus, my_apic_id, *frame)) return;  // IRETs into the entry
//     ... the kernel's own NMI handling (watchdog, panic IPIs) ...
//   }
//
// What CPU0 holds on arrival in the record entry by this path: everything it had in long mode
// before it parked (the kernel's CR0/CR3/CR4/EFER, its GDT and IDT, its CS and SS), with
// RSP = record.stack_top, RDI = record, RFLAGS.IF = 0, NMIs unblocked (the IRETQ), then
// ap_entry as on every other path (boot/ap_entry.hpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../arch/x86_64/descriptors.hpp"
#include "../core/types.hpp"
#include "../percpu/cpu_record.hpp"
#include "../percpu/cpu_table.hpp"
#include "../wake/nmi.hpp"

namespace smpboot {

// The stack asm/nmi_entry.asm builds: the 15 GPRs it saves, then the frame the CPU pushed on
// NMI delivery (SDM Vol. 3A 7.14.2, figure 7-9: SS, RSP, RFLAGS, CS, RIP, no error code). The
// entry stores and reloads each GPR at the offset exported from here (NMI_FRAME_*), and IRETQ
// pops rip..ss from it: rewriting rip, rsp, rflags or a GPR here changes where and how the
// interrupted CPU resumes.
struct NmiFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  // Pushed by the CPU: the IRET frame.
  uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(NmiFrame) == 20 * 8);
static_assert(offsetof(NmiFrame, r15) == 0 && offsetof(NmiFrame, rax) == 14 * 8);
static_assert(offsetof(NmiFrame, rdi) == 9 * 8 && offsetof(NmiFrame, rbp) == 8 * 8);
// The entry's `add rsp, NMI_FRAME_RIP` leaves exactly the CPU's frame for IRETQ.
static_assert(offsetof(NmiFrame, rip) == 15 * 8 && offsetof(NmiFrame, ss) == 19 * 8);

inline constexpr uint64_t kRflagsIf = uint64_t{1} << 9;  // SDM Vol. 1 3.4.3.3 "System Flags"

// Where the park loop lies, [begin, end): a wake must only ever find a CPU there (complete_offline
// is a CPU's last act before it). A parameter, so the rewrite runs on a host without the asm.
struct ParkLoopBounds {
  uint64_t begin = 0;
  uint64_t end = 0;
  constexpr bool contains(uint64_t rip) const noexcept { return rip >= begin && rip < end; }
};

struct NmiWakeResult {
  CpuRecord* record = nullptr;       // the CPU's own record when the NMI was its wake, else null
  bool in_park_loop = false;         // the wake interrupted the park loop, as it must
  uint64_t interrupted_rip = 0;      // the RIP the wake abandoned
  explicit operator bool() const noexcept { return record != nullptr; }
};

// If a wake is pending in `self`'s record (pending_nmi_wake), rewrites the frame so that IRETQ
// enters the record entry the way the trampoline's last instructions do: rip = entry_rip
// (x86_64::record_entry_thunk), rsp = record.stack_top, rdi = record, RFLAGS.IF = 0 (the
// entry enables interrupts once it is ready). IRETQ rather than a jump, so NMIs are unblocked
// (SDM 7.7). CS and SS stay the kernel's: CPU0 never left long mode. The interrupted code is
// abandoned; the result says whether it was the park loop. Any other NMI: frame untouched.
template <uint32_t N>
NmiWakeResult take_nmi_wake(CpuTable<N>& cpus, ApicId self, NmiFrame& frame, uint64_t entry_rip,
                            ParkLoopBounds park) noexcept {
  NmiWakeResult result;
  CpuRecord* record = pending_nmi_wake(cpus, self);
  if (record == nullptr) return result;
  result.record = record;
  result.interrupted_rip = frame.rip;
  result.in_park_loop = park.contains(frame.rip);
  frame.rip = entry_rip;
  frame.rsp = record->stack_top;
  frame.rdi = reinterpret_cast<uint64_t>(record);
  frame.rflags &= ~kRflagsIf;
  return result;
}

}  // namespace smpboot

// Defined in asm/nmi_entry.asm (link nmi_entry.o): the NMI gate's target and the park loop with
// its end, as addresses (the entry is never called from C++: it ends in IRETQ).
// smpboot_nmi_dispatch is the kernel's.
extern "C" {
extern char smpboot_nmi_entry[];
[[noreturn]] void smpboot_park_loop();
extern char smpboot_park_loop_end[];
void smpboot_nmi_dispatch(smpboot::NmiFrame* frame);
}

namespace smpboot {
namespace x86_64 {

// The park loop of nmi_entry.o, as bounds.
inline ParkLoopBounds native_park_loop() noexcept {
  return {reinterpret_cast<uint64_t>(&smpboot_park_loop),
          reinterpret_cast<uint64_t>(smpboot_park_loop_end)};
}

// Stop this CPU in the park loop (cli; hlt forever; NMIs return into it): where an offline CPU
// waits after complete_offline, and where a wake by NMI must find it.
[[noreturn]] inline void park() noexcept { smpboot_park_loop(); }

}  // namespace x86_64

// take_nmi_wake with the shipped entry thunk and park loop: what smpboot_nmi_dispatch calls.
template <uint32_t N>
NmiWakeResult take_nmi_wake(CpuTable<N>& cpus, ApicId self, NmiFrame& frame) noexcept {
  return take_nmi_wake(cpus, self, frame, reinterpret_cast<uint64_t>(&x86_64::record_entry_thunk),
                       x86_64::native_park_loop());
}

}  // namespace smpboot
