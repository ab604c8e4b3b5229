// The contract between the nasm trampoline (asm/trampoline.asm) and C++: the parameter block
// at a fixed offset in the trampoline page. This struct is the single definition; the build
// exports its offsets (and CpuRecord's) to nasm with asm/asm_offsets.cpp, the trampoline
// stores kTrampolineMagic and kBootLayoutVersion in its own copy, and the BSP refuses to wake
// anyone (kLayoutMismatch) if the blob it was given disagrees.
//
// The AP only *reads* the page: the BSP relocates every absolute address (far pointers, GDT
// base) when it installs the blob, so any number of APs can run the trampoline at once.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace smpboot {

inline constexpr uint32_t kTrampolineMagic = 0x54504D53;  // "SMPT"
// 3: CpuRecord::error is a one-byte Error (was a 32-bit integer).
// 4: a CpuTable slot holds index + 1 in its high dword, 0 meaning empty (was an ID of
//    0xFFFFFFFF), so a zero-filled table is valid.
// 5: CpuRecord gains fs_base (after gs_base) and controller_apic_id; idt_limit moves beside
//    gdt_limit, so state, error and stage move.
// 6: a 64-bit entry for the ACPI wakeup mailbox (boot/mailbox.hpp): mailbox64_offset at the
//    end, and gdt_base_high (always 0) after gdt_offset, so bytes 70-79 are also a 64-bit
//    GDTR image; slots_phys, records_phys, stop_index and stop_stage move by 4.
inline constexpr uint32_t kBootLayoutVersion = 6;
inline constexpr uint32_t kTrampolineParamsOffset = 8;    // after a 3-byte jmp, 8-aligned
inline constexpr uint32_t kTrampolineMaxSize = 4096;      // one SIPI page

enum TrampolineFlags : uint32_t {
  kTrampolineX2Apic = 1u << 0,  // AP sets IA32_APIC_BASE.EXTD (INIT leaves it in xAPIC mode)
  kTrampolineNxe = 1u << 1,     // set EFER.NXE if CPUID 8000_0001H:EDX[20] says NX exists
};

// CR4.LA57 (bit 12, SDM Vol. 3A 2.5 "Control Registers"): 5-level paging. The trampoline only
// builds 4-level paging; the mailbox entry parks a CPU that the firmware handed over with
// LA57 set, since changing it needs paging off (SDM 4.1.2 "Paging-Mode Enabling").
inline constexpr uint64_t kTrampolineCr4La57 = uint64_t{1} << 12;

// No CPU stops on purpose (TrampolineParams::stop_index).
inline constexpr uint32_t kTrampolineNoStop = 0xFFFF'FFFFu;

// How the AP finds its APIC ID in asm. Only these two: the register (default, the truth
// after firmware renumbering) and the CPUID chain 1FH > 0BH > 01H.
enum class TrampolineIdSource : uint32_t { kApicRegister = 0, kCpuidChain = 1 };

struct TrampolineParams {
  uint32_t magic;           // set by nasm: kTrampolineMagic
  uint32_t layout_version;  // set by nasm: kBootLayoutVersion
  uint32_t blob_size;       // set by nasm
  uint32_t page_phys;       // BSP: physical address of the installed copy
  uint32_t cr3;             // BSP: kernel page-table root, below 4 GiB; must identity-map the page
  uint32_t flags;           // BSP: TrampolineFlags
  uint32_t id_source;       // BSP: TrampolineIdSource
  uint32_t slot_bits;       // BSP: CpuTable::kSlotBits
  uint64_t slots;           // BSP: CpuTable::slots() (kernel virtual address)
  uint64_t records;         // BSP: CpuTable::records()
  uint64_t record_size;     // BSP: sizeof(CpuRecord)
  // Far pointers and GDTR base: nasm stores page-relative offsets, the BSP adds page_phys.
  uint32_t pm32_offset;     // 32-bit protected-mode entry
  uint16_t pm32_selector;
  uint16_t reserved0;
  uint32_t lm64_offset;     // 64-bit entry
  uint16_t lm64_selector;
  uint16_t gdt_limit;       // GDTR image: limit then base, contiguous
  uint32_t gdt_offset;
  // Set by nasm: 0, the high half of a 64-bit GDT base, so gdt_limit..here is the 10-byte
  // GDTR that LGDT reads in 64-bit mode (the mailbox entry), and its first 6 bytes the one
  // it reads in 16- and 32-bit code.
  uint32_t gdt_base_high;
  // The CPU table as the AP sees it with paging off (physical = linear), so it can record
  // BootStage::kProtected in its record before long mode. 0: not reachable; stages start at
  // kLong.
  uint32_t slots_phys;      // BSP
  uint32_t records_phys;    // BSP
  // Test support (TrampolineSetup::stop_*): the CPU with this table index parks right after
  // recording this BootStage, so the boot tests can show what a report says about it.
  uint32_t stop_index;      // BSP: kTrampolineNoStop for none
  uint32_t stop_stage;      // BSP: BootStage
  // Set by nasm, page-relative and never relocated: the 64-bit entry for a CPU that arrives
  // in long mode through the ACPI wakeup mailbox (ACPI 6.4+ 5.2.12.19) rather than a
  // STARTUP; its wakeup vector is page_phys + mailbox64_offset (mailbox_wakeup_vector).
  uint32_t mailbox64_offset;
};

static_assert(offsetof(TrampolineParams, magic) == 0);
static_assert(offsetof(TrampolineParams, cr3) == 16);
static_assert(offsetof(TrampolineParams, slots) == 32);
static_assert(offsetof(TrampolineParams, pm32_offset) == 56);
static_assert(offsetof(TrampolineParams, lm64_offset) == 64);
static_assert(offsetof(TrampolineParams, gdt_limit) == 70);
static_assert(offsetof(TrampolineParams, gdt_offset) == 72);
static_assert(offsetof(TrampolineParams, gdt_base_high) == 76);
static_assert(offsetof(TrampolineParams, gdt_base_high) == offsetof(TrampolineParams, gdt_limit) + 6);
static_assert(offsetof(TrampolineParams, slots_phys) == 80);
static_assert(offsetof(TrampolineParams, stop_stage) == 92);
static_assert(offsetof(TrampolineParams, mailbox64_offset) == 96);
// The bytes of the block as the blob holds them (sizeof adds C++ tail padding).
inline constexpr uint32_t kTrampolineParamsBytes =
    offsetof(TrampolineParams, mailbox64_offset) + sizeof(uint32_t);
static_assert(kTrampolineParamsBytes == 100);

}  // namespace smpboot
