// The boot record: one per CPU, the single source of everything any wake path needs to enter
// the kernel on that CPU (stack, GS base, GDT, entry point). The AP trampoline and the NMI
// path for CPU0 both read it; neither has globals of its own. That makes impossible by design
// the failure of version 7 of Linux's parallel-bringup patch series, whose NMI wake of CPU0
// entered the kernel with another CPU's boot data.
// The layout is shared with asm: asm/asm_offsets.cpp exports the offsets to nasm, and the
// static_asserts below pin them on the C++ side.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/atomic.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"
#include "cpu_state.hpp"

namespace smpboot {

struct CpuRecord;
using CpuEntryFn = void (*)(CpuRecord* self);  // must not return

enum CpuRecordFlags : uint32_t {
  kCpuFlagFirmwareBsp = 1u << 0,  // the CPU that ran the firmware: never send it INIT
};

struct alignas(64) CpuRecord {
  // --- read by asm (trampoline, NMI entry); offsets exported, do not reorder ---
  uint64_t stack_top = 0;   // 16-byte aligned top of this CPU's kernel stack
  uint64_t entry = 0;       // CpuEntryFn, called with this record in rdi on the stack above
  uint64_t gs_base = 0;     // IA32_GS_BASE value the entry installs
  uint64_t gdt_base = 0;    // this CPU's own GDT
  uint16_t gdt_limit = 0;
  uint16_t reserved0 = 0;
  uint32_t apic_id = 0;
  uint32_t index = 0;
  Atomic<uint32_t> state{0};        // CpuState
  Atomic<uint32_t> wake_pending{0}; // 1 while a wake for this CPU is in flight (NMI path)
  uint32_t flags = 0;               // CpuRecordFlags
  Error error = Error::kNone;  // the last failure (the trampoline writes kApicIdMismatch)
  uint8_t reserved1[3] = {};
  // --- C++ only ---
  uint32_t esr = 0;         // ESR bits seen when a send to this CPU failed
  Atomic<uint32_t> stage{0};  // BootStage of the latest wake (the trampoline writes it too)
  uint64_t wake_sent_us = 0;     // clock times of the last wake, entry and online
  uint64_t alive_us = 0;
  uint64_t online_us = 0;
  uint64_t idt_base = 0;    // optional: the kernel's per-CPU IDT, installed by its entry hook
  uint16_t idt_limit = 0;
  uint64_t kernel_data = 0; // the kernel's own per-CPU pointer
  uint32_t wake_count = 0;  // completed wakes (boot + online cycles)

  // Back to a fresh record for `id` at `i` (table setup, before any AP runs).
  void reset(ApicId id, CpuIndex i) noexcept {
    stack_top = entry = gs_base = gdt_base = 0;
    gdt_limit = reserved0 = 0;
    apic_id = id.value;
    index = i.value;
    state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
    wake_pending.store(0, MemoryOrder::kRelaxed);
    flags = esr = 0;
    error = Error::kNone;
    stage.store(uint32_t(BootStage::kNone), MemoryOrder::kRelaxed);
    wake_sent_us = alive_us = online_us = idt_base = kernel_data = 0;
    idt_limit = 0;
    wake_count = 0;
  }

  CpuState load_state(MemoryOrder order = MemoryOrder::kAcquire) const noexcept {
    return static_cast<CpuState>(state.load(order));
  }
  BootStage load_stage() const noexcept {
    return static_cast<BootStage>(stage.load(MemoryOrder::kAcquire));
  }
  void reach(BootStage s) noexcept { stage.store(uint32_t(s), MemoryOrder::kRelease); }
  bool is_firmware_bsp() const noexcept { return (flags & kCpuFlagFirmwareBsp) != 0; }
  ApicId apic() const noexcept { return ApicId{apic_id}; }
  CpuIndex cpu_index() const noexcept { return CpuIndex{index}; }

  // One atomic step of the state machine; kIllegalTransition if `to` is not reachable from
  // `from`, or if the record was not in `from` (someone else moved first).
  Status transition(CpuState from, CpuState to) noexcept {
    if (!is_legal_transition(from, to)) return Error::kIllegalTransition;
    uint32_t expected = uint32_t(from);
    if (!state.compare_exchange(expected, uint32_t(to), MemoryOrder::kAcqRel,
                                MemoryOrder::kAcquire)) {
      return Error::kIllegalTransition;
    }
    return {};
  }
  void fail(Error why) noexcept { error = why; }
};

// The layout contract with asm/. Changing any of these needs the trampoline rebuilt, which
// the build does (asm/asm_offsets.cpp), and bumps kBootLayoutVersion in
// boot/trampoline_layout.hpp.
// Read by the trampoline and by x86_64::record_entry_thunk:
static_assert(offsetof(CpuRecord, stack_top) == 0 && offsetof(CpuRecord, entry) == 8);
// Written by the trampoline: state (lock cmpxchg), stage (dword stores), error (a byte store):
static_assert(offsetof(CpuRecord, state) == 44 && offsetof(CpuRecord, stage) == 64);
static_assert(offsetof(CpuRecord, error) == 56 && sizeof(CpuRecord::error) == 1);
// Read by the entry path in C++ (install_cpu_state, ap_main):
static_assert(offsetof(CpuRecord, gs_base) == 16 && offsetof(CpuRecord, gdt_base) == 24 &&
              offsetof(CpuRecord, gdt_limit) == 32);
static_assert(offsetof(CpuRecord, apic_id) == 36 && offsetof(CpuRecord, index) == 40 &&
              offsetof(CpuRecord, wake_pending) == 48);
static_assert(sizeof(CpuRecord) % 64 == 0);

}  // namespace smpboot
