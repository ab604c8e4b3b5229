// Exports the asm-visible layout to nasm ("asm-offsets"). Compiled with -S by the build; each
// line of the form "->NAME VALUE" in the output becomes "%define NAME VALUE" in
// smpboot_layout.inc (see asm/meson.build). Never linked into anything.
#include <stddef.h>

#include "trampoline_layout.hpp"

#define SMPBOOT_EXPORT(name, value) asm volatile("\n.ascii \"->" #name " %c0\"" ::"i"(value))

void smpboot_asm_offsets() {
  using namespace smpboot;
  SMPBOOT_EXPORT(TRAMPOLINE_MAGIC, kTrampolineMagic);
  SMPBOOT_EXPORT(BOOT_LAYOUT_VERSION, kBootLayoutVersion);
  SMPBOOT_EXPORT(TRAMPOLINE_PARAMS_OFFSET, kTrampolineParamsOffset);
  SMPBOOT_EXPORT(TRAMPOLINE_MAX_SIZE, kTrampolineMaxSize);
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
  SMPBOOT_EXPORT(TP_SLOTS_PHYS, offsetof(TrampolineParams, slots_phys));
  SMPBOOT_EXPORT(TP_RECORDS_PHYS, offsetof(TrampolineParams, records_phys));
  SMPBOOT_EXPORT(TP_STOP_INDEX, offsetof(TrampolineParams, stop_index));
  SMPBOOT_EXPORT(TP_STOP_STAGE, offsetof(TrampolineParams, stop_stage));
  SMPBOOT_EXPORT(ID_SOURCE_CPUID_CHAIN, uint32_t(TrampolineIdSource::kCpuidChain));
  SMPBOOT_EXPORT(CPU_STACK_TOP, offsetof(CpuRecord, stack_top));
  SMPBOOT_EXPORT(CPU_STATE, offsetof(CpuRecord, state));
  SMPBOOT_EXPORT(CPU_ERROR, offsetof(CpuRecord, error));
  SMPBOOT_EXPORT(CPU_STAGE, offsetof(CpuRecord, stage));
  SMPBOOT_EXPORT(STATE_KICKED, uint32_t(CpuState::kKicked));
  SMPBOOT_EXPORT(STATE_FAILED, uint32_t(CpuState::kFailed));
  SMPBOOT_EXPORT(STAGE_PROTECTED, uint32_t(BootStage::kProtected));
  SMPBOOT_EXPORT(STAGE_LONG, uint32_t(BootStage::kLong));
  SMPBOOT_EXPORT(ERROR_APIC_ID_MISMATCH, uint32_t(Error::kApicIdMismatch));
  SMPBOOT_EXPORT(CPU_ENTRY, offsetof(CpuRecord, entry));
  SMPBOOT_EXPORT(CPU_APIC_ID, offsetof(CpuRecord, apic_id));
  SMPBOOT_EXPORT(CPU_RECORD_SIZE, sizeof(CpuRecord));
  SMPBOOT_EXPORT(SLOT_EMPTY, apic_index::kEmptySlot);
  SMPBOOT_EXPORT(SLOT_HASH_MULTIPLIER, apic_index::kHashMultiplier);
}
