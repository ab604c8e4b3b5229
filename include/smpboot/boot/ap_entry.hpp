// The one C++ entry every wake path uses, on the woken CPU, already on its own stack (the
// trampoline switched to record->stack_top; the NMI path for CPU0 does the same from CPU0's
// record). It claims the wake (wake_sent -> alive) before running any kernel hook, installs the
// CPU state the record names, then moves alive -> online. A CPU whose record was already
// marked failed (it came too late) parks instead: the BSP gave up on it and its report says so.
//
// THE AP ENTRY CONTRACT: what a CPU holds at the first instruction of record->entry.
//
// By INIT/SIPI/SIPI (asm/trampoline.asm; SDM Vol. 3A 10.1.1 "Processor State After Reset" for
// what the trampoline leaves untouched, 10.8.5 "Initializing IA-32e Mode"):
//   - 64-bit mode. CS = 0x18 (the trampoline's 64-bit code descriptor), DS = ES = SS = 0x10
//     (flat data), FS = GS = 0x10 with base 0. GDTR points at the trampoline's 4-entry GDT
//     inside the SIPI page, which the kernel may reuse after the wake: install_cpu_state must
//     load the kernel's GDT (x86_64::install_record_state does, with the record's).
//   - No IDT: IDTR is what INIT left (base 0, limit FFFFH), so a fault before install_cpu_state
//     loads one shuts the CPU down (triple fault).
//   - RFLAGS.IF = 0 (never set since INIT), DF = 0.
//   - CR0 = PG | PE | ET: CD and NW cleared (INIT sets both), WP clear. CR4 = PAE only (no PGE,
//     no OSFXSR: no SSE until the kernel enables it). EFER.LME and LMA set, and NXE when
//     TrampolineSetup::nxe and CPUID 8000_0001H:EDX[20] says NX exists (the trampoline sets
//     only these bits; SCE and the rest are as INIT left them).
//     CR3 = TrampolineSetup's cr3 (below 4 GiB, identity-mapping the SIPI page).
//   - IA32_APIC_BASE.EXTD set when TrampolineSetup::x2apic (INIT returns the APIC to xAPIC).
//   - RDI = this CPU's record, RSP = record->stack_top - 8 (the trampoline CALLs the entry, so
//     the SysV ABI's alignment holds), RBP = 0. Nothing else is defined.
// By NMI, CPU0 only (boot/nmi_entry.hpp, x86_64::record_entry_thunk): CPU0 never left long mode,
// so it holds the kernel's own CR0/CR3/CR4/EFER, GDT, IDT, CS, SS and GS/FS bases from before
// it parked; RFLAGS.IF = 0 and NMIs unblocked (IRETQ), RDI = record, RSP = stack_top - 8 (the
// thunk CALLs the entry too).
//
// The hooks, in this order, all on the record's stack with interrupts off:
//   1. P::now_us(), before anything else: it must work with the trampoline's GDT, no IDT and
//      GS base 0 (the TSC, not per-CPU data).
//   2. The wake is claimed (wake_sent -> alive). A late CPU calls P::park(r) and nothing else.
//   3. P::install_cpu_state(r): the record's GDT, GS and FS bases and IDT.
//   4. P::cpu_setup(r). In parallel and broadcast mode every AP runs it AT THE SAME TIME: a
//      kernel allocator, console or list it touches needs a lock (or per-CPU data).
//      false: the record fails, P::announce_online(r) tells the controller, P::park(r).
//   5. alive -> online, then P::announce_online(r): it must notify r.controller_apic_id, the
//      CPU that started this wake (the BSP at boot, the controller of a hotplug), never a fixed
//      CPU0, which may be the CPU coming back.
//   6. P::run(r), the CPU's life; if it returns, the CPU went offline and P::park(r) follows.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"
#include "../percpu/cpu_record.hpp"

namespace smpboot {

// What a kernel provides to the AP entry. All static: the entry runs before any per-CPU
// object exists except the record.
template <class P>
concept ApPlatform = requires(CpuRecord& r) {
  // Load the record's GDT (and segments), GS and FS bases and IDT on this CPU
  // (x86_64::install_record_state).
  { P::install_cpu_state(r) } noexcept -> SameAs<void>;
  { P::now_us() } noexcept -> SameAs<uint64_t>;
  // The kernel's per-CPU setup (APIC mode and enable, timers, ...); false = this CPU failed.
  // Runs on all APs at once in parallel mode: shared kernel state needs a lock.
  { P::cpu_setup(r) } noexcept -> SameAs<bool>;
  // Tell whoever waits: an IPI to r.controller_apic_id (never a fixed CPU; see above).
  { P::announce_online(r) } noexcept -> SameAs<void>;
  // The CPU's life while online. A kernel's usually never returns (it parks from inside when
  // it goes offline); returning means "this CPU went offline" and ends ap_main.
  { P::run(r) } noexcept -> SameAs<void>;
  // Stop this CPU for good (cli; hlt loop) without touching shared state. Never returns. For
  // CPU0, whose NMI wake checks where it was, the library's loop: x86_64::park().
  { P::park(r) } noexcept -> SameAs<void>;
};

enum class ApExit : uint8_t {
  kLate,         // the record was no longer "wake_sent": the controller gave up on this CPU
  kSetupFailed,  // cpu_setup said no; the record is failed
  kNotOnline,    // someone moved the record between alive and online
  kWentOffline,  // run() returned
};

// The state walk of one wake, on the woken CPU, already on the record's stack. Returns why
// the CPU stopped running kernel code; the caller parks it (ap_entry) or, in a simulator,
// goes back to waiting for the next wake.
template <ApPlatform P>
ApExit ap_main(CpuRecord* self) noexcept {
  // Too late? Decided before any kernel hook runs: a CPU the controller gave up on parks
  // without touching the kernel's state (the controller also INITs it: boot/wait.hpp).
  const uint64_t alive_us = P::now_us();
  if (!self->transition(CpuState::kWakeSent, CpuState::kAlive)) return ApExit::kLate;
  self->alive_us = alive_us;
  self->reach(BootStage::kAlive);
  P::install_cpu_state(*self);
  if (!P::cpu_setup(*self)) {
    (void)self->transition(CpuState::kAlive, CpuState::kFailed);
    P::announce_online(*self);  // wake the controller: it sees `failed` at once
    return ApExit::kSetupFailed;
  }
  self->online_us = P::now_us();
  ++self->wake_count;
  self->reach(BootStage::kOnline);
  self->wake_pending.store(0, MemoryOrder::kRelease);
  if (!self->transition(CpuState::kAlive, CpuState::kOnline)) return ApExit::kNotOnline;
  P::announce_online(*self);
  P::run(*self);
  return ApExit::kWentOffline;
}

// The entry every wake path calls: record->entry(record) on record->stack_top.
template <ApPlatform P>
[[noreturn]] void ap_entry(CpuRecord* self) noexcept {
  (void)ap_main<P>(self);
  P::park(*self);
  __builtin_unreachable();
}

}  // namespace smpboot
