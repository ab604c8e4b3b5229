// The boot record: one per CPU, the single source of everything any wake path needs to enter
// the kernel on that CPU (stack, GS and FS base, GDT, IDT, entry point), and whom to tell.
// The AP trampoline and the NMI path for CPU0 both read it; neither has globals of its own. That makes impossible by design
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
  uint64_t fs_base = 0;     // IA32_FS_BASE value the entry installs (0: none, the reset value)
  uint64_t gdt_base = 0;    // this CPU's own GDT
  uint16_t gdt_limit = 0;   // 0: keep the GDT the CPU arrived with
  uint16_t idt_limit = 0;   // 0: no IDT installed by the entry (idt_base unused)
  uint32_t apic_id = 0;
  uint32_t index = 0;
  Atomic<uint32_t> state{0};        // CpuState
  Atomic<uint32_t> wake_pending{0}; // 1 while a wake for this CPU is in flight (NMI path)
  uint32_t flags = 0;               // CpuRecordFlags
  Error error = Error::kNone;  // the last failure (the trampoline writes kApicIdMismatch)
  // The MADT entry this CPU came from (add_cpus_from_madt): its type (0 Local APIC, 9 Local
  // x2APIC; kNoMadtEntry for a CPU the MADT does not list, e.g. a BSP missing from it) and
  // its Local APIC Flags, bits 0 enabled and 1 online capable (ACPI 6.5 5.2.12.2, 5.2.12.12).
  uint8_t madt_type = 0;
  uint8_t madt_flags = 0;
  uint8_t reserved1 = 0;
  // --- C++ only ---
  uint32_t esr = 0;         // ESR bits seen when a send to this CPU failed
  Atomic<uint32_t> stage{0};  // BootStage of the latest wake (the trampoline writes it too)
  // The APIC ID of the CPU that started the latest wake or offline of this record (the BSP in
  // bring_up_aps, the controller in bring_online and begin_offline). The woken CPU's
  // announce_online, and a victim's offline handler, tell this CPU: it is not always CPU0,
  // which may itself be the CPU coming back.
  uint32_t controller_apic_id = 0;
  uint64_t wake_sent_us = 0;     // clock times of the last wake, entry and online
  uint64_t alive_us = 0;
  uint64_t online_us = 0;
  uint64_t idt_base = 0;    // optional: the kernel's IDT for this CPU (with idt_limit)
  uint64_t kernel_data = 0; // the kernel's own per-CPU pointer
  uint32_t wake_count = 0;  // completed wakes (boot + online cycles)
  // The ACPI Processor UID of that MADT entry (kUnknownAcpiUid without one): local NMI
  // entries (MADT types 4 and 0xA) and _UID in the namespace name processors by it.
  uint32_t acpi_uid = 0;

  // Back to a fresh record for `id` at `i` (table setup, before any AP runs).
  void reset(ApicId id, CpuIndex i) noexcept {
    stack_top = entry = gs_base = fs_base = gdt_base = 0;
    gdt_limit = idt_limit = 0;
    apic_id = id.value;
    index = i.value;
    state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
    wake_pending.store(0, MemoryOrder::kRelaxed);
    flags = esr = controller_apic_id = 0;
    error = Error::kNone;
    stage.store(uint32_t(BootStage::kNone), MemoryOrder::kRelaxed);
    wake_sent_us = alive_us = online_us = idt_base = kernel_data = 0;
    wake_count = 0;
    madt_type = kNoMadtEntry;
    madt_flags = reserved1 = 0;
    acpi_uid = kUnknownAcpiUid;
  }

  static constexpr uint8_t kNoMadtEntry = 0xFF;
  static constexpr uint32_t kUnknownAcpiUid = 0xFFFF'FFFFu;
  bool has_madt_entry() const noexcept { return madt_type != kNoMadtEntry; }
  AcpiUid uid() const noexcept { return AcpiUid{acpi_uid}; }
  // Records the MADT entry a CPU came from (the entry's 32-bit flags keep bits 7:0).
  void set_madt_entry(uint8_t type, AcpiUid uid, uint32_t entry_flags) noexcept {
    madt_type = type;
    madt_flags = uint8_t(entry_flags);
    acpi_uid = uid.value;
  }

  ApicId controller() const noexcept { return ApicId{controller_apic_id}; }

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
static_assert(offsetof(CpuRecord, state) == 52 && offsetof(CpuRecord, stage) == 72);
static_assert(offsetof(CpuRecord, error) == 64 && sizeof(CpuRecord::error) == 1);
// Read by the entry path in C++ (x86_64::install_record_state, ap_main):
static_assert(offsetof(CpuRecord, gs_base) == 16 && offsetof(CpuRecord, fs_base) == 24 &&
              offsetof(CpuRecord, gdt_base) == 32 && offsetof(CpuRecord, gdt_limit) == 40 &&
              offsetof(CpuRecord, idt_limit) == 42);
static_assert(offsetof(CpuRecord, apic_id) == 44 && offsetof(CpuRecord, index) == 48 &&
              offsetof(CpuRecord, wake_pending) == 56);
static_assert(offsetof(CpuRecord, controller_apic_id) == 76);
static_assert(sizeof(CpuRecord) == 128);

}  // namespace smpboot
