// Exports to nasm everything the trampoline and the NMI entry share with C++ ("asm-offsets"):
// the layout of the parameter block, of CpuRecord and of NmiFrame, and the hardware constants
// the trampoline uses, all taken from the headers that define them. asm/gen_layout.sh compiles this file with -S (g++ or
// clang++) and turns each "->NAME VALUE" line of the output into "%define NAME VALUE" in
// smpboot_layout.inc. Never linked into anything.
#include <stddef.h>
#include <stdint.h>

#include <smpboot/boot/nmi_entry.hpp>
#include <smpboot/boot/trampoline_layout.hpp>
#include <smpboot/core/result.hpp>
#include <smpboot/hw/apic_regs.hpp>
#include <smpboot/hw/control_regs.hpp>
#include <smpboot/hw/cpuid.hpp>
#include <smpboot/hw/msr.hpp>
#include <smpboot/percpu/cpu_record.hpp>
#include <smpboot/percpu/cpu_state.hpp>
#include <smpboot/percpu/cpu_table.hpp>

// %P0 prints a constant operand bare in both compilers; %c0, the usual spelling, is refused by
// g++ for a constant that does not fit a sign-extended 32-bit immediate. Every value goes out
// as a 64-bit unsigned integer, so none prints as a negative number.
#define SMPBOOT_EXPORT(name, value) \
  asm volatile("\n.ascii \"->" #name " %P0\"" ::"i"(static_cast<uint64_t>(value)))

void smpboot_asm_offsets() {
  using namespace smpboot;
  // The parameter block (boot/trampoline_layout.hpp).
  SMPBOOT_EXPORT(TRAMPOLINE_MAGIC, kTrampolineMagic);
  SMPBOOT_EXPORT(BOOT_LAYOUT_VERSION, kBootLayoutVersion);
  SMPBOOT_EXPORT(TRAMPOLINE_PARAMS_OFFSET, kTrampolineParamsOffset);
  SMPBOOT_EXPORT(TRAMPOLINE_MAX_SIZE, kTrampolineMaxSize);
  SMPBOOT_EXPORT(TRAMPOLINE_NO_STOP, kTrampolineNoStop);
  SMPBOOT_EXPORT(TRAMPOLINE_FLAG_X2APIC, kTrampolineX2Apic);
  SMPBOOT_EXPORT(TRAMPOLINE_FLAG_NXE, kTrampolineNxe);
  SMPBOOT_EXPORT(TP_SIZE, kTrampolineParamsBytes);
  SMPBOOT_EXPORT(TP_MAGIC, offsetof(TrampolineParams, magic));
  SMPBOOT_EXPORT(TP_LAYOUT_VERSION, offsetof(TrampolineParams, layout_version));
  SMPBOOT_EXPORT(TP_BLOB_SIZE, offsetof(TrampolineParams, blob_size));
  SMPBOOT_EXPORT(TP_PAGE_PHYS, offsetof(TrampolineParams, page_phys));
  SMPBOOT_EXPORT(TP_CR3, offsetof(TrampolineParams, cr3));
  SMPBOOT_EXPORT(TP_FLAGS, offsetof(TrampolineParams, flags));
  SMPBOOT_EXPORT(TP_ID_SOURCE, offsetof(TrampolineParams, id_source));
  SMPBOOT_EXPORT(TP_SLOT_BITS, offsetof(TrampolineParams, slot_bits));
  SMPBOOT_EXPORT(TP_SLOTS, offsetof(TrampolineParams, slots));
  SMPBOOT_EXPORT(TP_RECORDS, offsetof(TrampolineParams, records));
  SMPBOOT_EXPORT(TP_RECORD_SIZE, offsetof(TrampolineParams, record_size));
  SMPBOOT_EXPORT(TP_PM32_OFFSET, offsetof(TrampolineParams, pm32_offset));
  SMPBOOT_EXPORT(TP_PM32_SELECTOR, offsetof(TrampolineParams, pm32_selector));
  SMPBOOT_EXPORT(TP_LM64_OFFSET, offsetof(TrampolineParams, lm64_offset));
  SMPBOOT_EXPORT(TP_LM64_SELECTOR, offsetof(TrampolineParams, lm64_selector));
  SMPBOOT_EXPORT(TP_GDT_LIMIT, offsetof(TrampolineParams, gdt_limit));
  SMPBOOT_EXPORT(TP_GDT_OFFSET, offsetof(TrampolineParams, gdt_offset));
  SMPBOOT_EXPORT(TP_GDT_BASE_HIGH, offsetof(TrampolineParams, gdt_base_high));
  SMPBOOT_EXPORT(TP_SLOTS_PHYS, offsetof(TrampolineParams, slots_phys));
  SMPBOOT_EXPORT(TP_RECORDS_PHYS, offsetof(TrampolineParams, records_phys));
  SMPBOOT_EXPORT(TP_STOP_INDEX, offsetof(TrampolineParams, stop_index));
  SMPBOOT_EXPORT(TP_STOP_STAGE, offsetof(TrampolineParams, stop_stage));
  SMPBOOT_EXPORT(TP_MAILBOX64_OFFSET, offsetof(TrampolineParams, mailbox64_offset));
  SMPBOOT_EXPORT(ID_SOURCE_CPUID_CHAIN, TrampolineIdSource::kCpuidChain);

  // The CPU record and table (percpu/). The trampoline stores state and stage with dword
  // stores and the error with a byte store: their sizes are exported for it to check.
  SMPBOOT_EXPORT(CPU_STACK_TOP, offsetof(CpuRecord, stack_top));
  SMPBOOT_EXPORT(CPU_ENTRY, offsetof(CpuRecord, entry));
  SMPBOOT_EXPORT(CPU_STATE, offsetof(CpuRecord, state));
  SMPBOOT_EXPORT(CPU_STATE_SIZE, sizeof(CpuRecord::state));
  SMPBOOT_EXPORT(CPU_ERROR, offsetof(CpuRecord, error));
  SMPBOOT_EXPORT(CPU_ERROR_SIZE, sizeof(CpuRecord::error));
  SMPBOOT_EXPORT(CPU_STAGE, offsetof(CpuRecord, stage));
  SMPBOOT_EXPORT(CPU_STAGE_SIZE, sizeof(CpuRecord::stage));
  SMPBOOT_EXPORT(CPU_RECORD_SIZE, sizeof(CpuRecord));
  SMPBOOT_EXPORT(STATE_WAKE_SENT, CpuState::kWakeSent);
  SMPBOOT_EXPORT(STATE_FAILED, CpuState::kFailed);
  SMPBOOT_EXPORT(STAGE_PROTECTED, BootStage::kProtected);
  SMPBOOT_EXPORT(STAGE_LONG, BootStage::kLong);
  SMPBOOT_EXPORT(ERROR_APIC_ID_MISMATCH, Error::kApicIdMismatch);
  SMPBOOT_EXPORT(SLOT_EMPTY_INDEX, apic_index::kEmptySlot >> 32);
  SMPBOOT_EXPORT(SLOT_INDEX_BIAS, apic_index::kIndexBias);
  SMPBOOT_EXPORT(X2APIC_BROADCAST_ID, kBroadcastX2ApicId.value);
  SMPBOOT_EXPORT(SLOT_HASH_MULTIPLIER, apic_index::kHashMultiplier);

  // The NMI entry's frame (boot/nmi_entry.hpp), for asm/nmi_entry.asm.
  SMPBOOT_EXPORT(NMI_FRAME_SIZE, sizeof(NmiFrame));
  SMPBOOT_EXPORT(NMI_FRAME_R15, offsetof(NmiFrame, r15));
  SMPBOOT_EXPORT(NMI_FRAME_R14, offsetof(NmiFrame, r14));
  SMPBOOT_EXPORT(NMI_FRAME_R13, offsetof(NmiFrame, r13));
  SMPBOOT_EXPORT(NMI_FRAME_R12, offsetof(NmiFrame, r12));
  SMPBOOT_EXPORT(NMI_FRAME_R11, offsetof(NmiFrame, r11));
  SMPBOOT_EXPORT(NMI_FRAME_R10, offsetof(NmiFrame, r10));
  SMPBOOT_EXPORT(NMI_FRAME_R9, offsetof(NmiFrame, r9));
  SMPBOOT_EXPORT(NMI_FRAME_R8, offsetof(NmiFrame, r8));
  SMPBOOT_EXPORT(NMI_FRAME_RBP, offsetof(NmiFrame, rbp));
  SMPBOOT_EXPORT(NMI_FRAME_RDI, offsetof(NmiFrame, rdi));
  SMPBOOT_EXPORT(NMI_FRAME_RSI, offsetof(NmiFrame, rsi));
  SMPBOOT_EXPORT(NMI_FRAME_RDX, offsetof(NmiFrame, rdx));
  SMPBOOT_EXPORT(NMI_FRAME_RCX, offsetof(NmiFrame, rcx));
  SMPBOOT_EXPORT(NMI_FRAME_RBX, offsetof(NmiFrame, rbx));
  SMPBOOT_EXPORT(NMI_FRAME_RAX, offsetof(NmiFrame, rax));
  SMPBOOT_EXPORT(NMI_FRAME_RIP, offsetof(NmiFrame, rip));
  SMPBOOT_EXPORT(NMI_FRAME_CS, offsetof(NmiFrame, cs));
  SMPBOOT_EXPORT(NMI_FRAME_RFLAGS, offsetof(NmiFrame, rflags));
  SMPBOOT_EXPORT(NMI_FRAME_RSP, offsetof(NmiFrame, rsp));
  SMPBOOT_EXPORT(NMI_FRAME_SS, offsetof(NmiFrame, ss));

  // Hardware (hw/): MSRs, the APIC ID register, control-register bits, CPUID leaves.
  SMPBOOT_EXPORT(MSR_IA32_APIC_BASE, msr::kIa32ApicBase);
  SMPBOOT_EXPORT(MSR_IA32_EFER, msr::kIa32Efer);
  SMPBOOT_EXPORT(APIC_BASE_EN, ApicBase::kEnableBit);
  SMPBOOT_EXPORT(APIC_BASE_EXTD, ApicBase::kExtdBit);
  SMPBOOT_EXPORT(APIC_BASE_ADDRESS_MASK, ApicBase::kBaseMask);
  SMPBOOT_EXPORT(X2APIC_ID_MSR, apic_reg::kId.x2apic_msr());
  SMPBOOT_EXPORT(XAPIC_ID_OFFSET, apic_reg::kId.xapic_offset);
  SMPBOOT_EXPORT(XAPIC_ID_SHIFT, kXApicIdField.kLow);
  SMPBOOT_EXPORT(CR0_PE, kCr0Pe);
  SMPBOOT_EXPORT(CR0_NW, kCr0Nw);
  SMPBOOT_EXPORT(CR0_CD, kCr0Cd);
  SMPBOOT_EXPORT(CR0_PG, kCr0Pg);
  SMPBOOT_EXPORT(CR4_PAE, kCr4Pae);
  SMPBOOT_EXPORT(CR4_LA57, kTrampolineCr4La57);
  SMPBOOT_EXPORT(EFER_LME, kEferLme);
  SMPBOOT_EXPORT(EFER_NXE, kEferNxe);
  SMPBOOT_EXPORT(CPUID_LEAF_MAX_BASIC, Leaf00::kLeaf);
  SMPBOOT_EXPORT(CPUID_LEAF_FEATURES, Leaf01::kLeaf);
  SMPBOOT_EXPORT(CPUID_01_EBX_INITIAL_APIC_ID_SHIFT, Leaf01::kEbxInitialApicId.kLow);
  SMPBOOT_EXPORT(CPUID_LEAF_TOPOLOGY, TopologyLeaf::k0B);
  SMPBOOT_EXPORT(CPUID_LEAF_TOPOLOGY_V2, TopologyLeaf::k1F);
  SMPBOOT_EXPORT(CPUID_LEAF_MAX_EXTENDED, Leaf80000000::kLeaf);
  SMPBOOT_EXPORT(CPUID_LEAF_EXT_FEATURES, Leaf80000001::kLeaf);
  SMPBOOT_EXPORT(CPUID_80000001_EDX_NX_BIT, Leaf80000001::kEdxNx.kLow);
}
