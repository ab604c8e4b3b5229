// The boot record: one per CPU, the single source of everything any wake path needs to enter
// the kernel on that CPU (stack, GS base, GDT, entry point). The AP trampoline and the NMI
// path for CPU0 both read it; neither has globals of its own. This is what makes the Linux
// v7 failure (CPU0's NMI path entering with another CPU's boot data) impossible by design.
// The layout is shared with asm: boot/asm_offsets.cpp exports the offsets to nasm, and the
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
  uint32_t error = 0;       // Error of the last failure (the trampoline writes kApicIdMismatch)
  // --- C++ only ---
  uint32_t esr = 0;         // ESR bits seen when a send to this CPU failed
  Atomic<uint32_t> stage{0};  // BootStage of the latest wake (the trampoline writes it too)
  uint64_t kick_us = 0;     // clock times of the last wake, entry and online
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
    flags = error = esr = 0;
    stage.store(uint32_t(BootStage::kNone), MemoryOrder::kRelaxed);
    kick_us = alive_us = online_us = idt_base = kernel_data = 0;
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
  void fail(Error why) noexcept { error = uint32_t(why); }
};

// The layout contract with asm/. Changing any of these needs the trampoline rebuilt, which
// the build does (asm_offsets), and bumps kBootLayoutVersion in boot/layout.hpp.
static_assert(offsetof(CpuRecord, stack_top) == 0);
static_assert(offsetof(CpuRecord, entry) == 8);
static_assert(offsetof(CpuRecord, gs_base) == 16);
static_assert(offsetof(CpuRecord, gdt_base) == 24);
static_assert(offsetof(CpuRecord, gdt_limit) == 32);
static_assert(offsetof(CpuRecord, apic_id) == 36);
static_assert(offsetof(CpuRecord, index) == 40);
static_assert(offsetof(CpuRecord, state) == 44);
static_assert(offsetof(CpuRecord, wake_pending) == 48);
static_assert(offsetof(CpuRecord, error) == 56);
static_assert(offsetof(CpuRecord, stage) == 64);
static_assert(sizeof(CpuRecord) % 64 == 0);

}  // namespace smpboot
