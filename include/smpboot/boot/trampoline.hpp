// Installing the trampoline blob (asm/trampoline.asm) in its SIPI page: check that the blob
// was built from this layout, copy it, fill in the parameter block and relocate the blob's
// absolute addresses for the page it now lives in. Runs on the BSP before any SIPI.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../concepts/io.hpp"
#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../hw/msr.hpp"
#include "../percpu/cpu_table.hpp"
#include "trampoline_layout.hpp"

namespace smpboot {

inline constexpr uint64_t kMax32BitPhys = 0xFFFF'FFFFull;

struct TrampolineSetup {
  // Page-table root that identity-maps the trampoline page and maps the kernel; the AP loads
  // it in 32-bit mode, so it must lie below 4 GiB (kPageTableAbove4G). 4-level paging only:
  // the trampoline leaves CR4.LA57 clear (5-level paging is not supported).
  uint64_t cr3 = 0;
  bool x2apic = false;             // APs enable x2APIC themselves
  // Set EFER.NXE before paging, on CPUs that have NX (CPUID 8000_0001H:EDX[20]); needed when
  // the page tables use XD bits. trampoline_setup_like_bsp() copies the BSP's EFER.NXE.
  bool nxe = false;
  TrampolineIdSource id_source = TrampolineIdSource::kApicRegister;
  // Where an AP in xAPIC mode reads its APIC ID register with paging off (IA32_APIC_BASE).
  uint64_t xapic_base_phys = 0xFEE0'0000;
  // Physical address of the CpuTable passed to install_trampoline, when it is physically
  // contiguous below 4 GiB (e.g. a static in an identity-mapped kernel image). It lets each AP
  // record BootStage::kProtected; 0 = unknown, stages are then recorded from kLong on.
  uint64_t table_phys = 0;
  // Test support: the CPU with table index stop_index parks right after reaching stop_stage
  // (kProtected or kLong), to show how a failed AP is reported. Needs table_phys for kProtected.
  uint32_t stop_index = kTrampolineNoStop;
  BootStage stop_stage = BootStage::kNone;
};

// The setup that gives every AP the control state the calling CPU (the BSP) runs with:
// EFER.NXE, the APIC mode and the xAPIC base, all from its own MSRs.
template <MsrPort Msr>
TrampolineSetup trampoline_setup_like_bsp(Msr& msr, uint64_t cr3) noexcept {
  TrampolineSetup setup;
  setup.cr3 = cr3;
  const ApicBase base{msr.read(msr::kIa32ApicBase)};
  setup.x2apic = base.x2apic();
  setup.xapic_base_phys = base.base_phys();
  setup.nxe = (msr.read(msr::kIa32Efer) & kEferNxe) != 0;
  return setup;
}

// Reads the parameter block of a blob without trusting it to be long enough.
inline Result<TrampolineParams> read_trampoline_params(const uint8_t* blob, size_t size) noexcept {
  if (blob == nullptr || size < kTrampolineParamsOffset + kTrampolineParamsBytes ||
      size > kTrampolineMaxSize) {
    return Error::kLayoutMismatch;
  }
  TrampolineParams p{};
  __builtin_memcpy(&p, blob + kTrampolineParamsOffset, kTrampolineParamsBytes);
  if (p.magic != kTrampolineMagic || p.layout_version != kBootLayoutVersion ||
      p.blob_size != size) {
    return Error::kLayoutMismatch;
  }
  return p;
}

// `page` is the page's kernel-virtual address, `page_phys` its physical address (the SIPI
// start page). Returns the StartPage to put in the STARTUP IPIs.
template <uint32_t Capacity>
Result<StartPage> install_trampoline(void* page, uint64_t page_phys, const uint8_t* blob,
                                     size_t size, const TrampolineSetup& setup,
                                     CpuTable<Capacity>& table) noexcept {
  auto start = StartPage::from_phys(page_phys);
  if (!start) return start.error();
  auto checked = read_trampoline_params(blob, size);
  if (!checked) return checked.error();
  if (setup.cr3 == 0 || (setup.cr3 & 0xFFFu) != 0) return Error::kBadPageTableRoot;
  if (setup.cr3 > kMax32BitPhys) return Error::kPageTableAbove4G;
  const bool reads_xapic_id = !setup.x2apic;  // the ID cross-check reads it for every source
  if (reads_xapic_id && setup.xapic_base_phys + 0x1000 > kMax32BitPhys + 1) {
    return Error::kApicBaseAbove4G;
  }
  if (setup.table_phys != 0 && setup.table_phys + sizeof(table) > kMax32BitPhys + 1) {
    return Error::kTableAbove4G;
  }
  TrampolineParams p = *checked;
  p.page_phys = uint32_t(page_phys);
  p.cr3 = uint32_t(setup.cr3);
  p.flags = (setup.x2apic ? kTrampolineX2Apic : 0u) | (setup.nxe ? kTrampolineNxe : 0u);
  p.id_source = uint32_t(setup.id_source);
  p.slot_bits = CpuTable<Capacity>::kSlotBits;
  p.slots = reinterpret_cast<uint64_t>(table.slots());
  p.records = reinterpret_cast<uint64_t>(table.records());
  p.record_size = sizeof(CpuRecord);
  if (setup.table_phys != 0) {
    const uint64_t table_virt = reinterpret_cast<uint64_t>(&table);
    p.slots_phys = uint32_t(setup.table_phys + (p.slots - table_virt));
    p.records_phys = uint32_t(setup.table_phys + (p.records - table_virt));
  } else {
    p.slots_phys = p.records_phys = 0;
  }
  p.stop_index = setup.stop_index;
  p.stop_stage = uint32_t(setup.stop_stage);
  p.pm32_offset += uint32_t(page_phys);
  p.lm64_offset += uint32_t(page_phys);
  p.gdt_offset += uint32_t(page_phys);
  auto* dst = static_cast<uint8_t*>(page);
  __builtin_memcpy(dst, blob, size);
  __builtin_memcpy(dst + kTrampolineParamsOffset, &p, kTrampolineParamsBytes);
  // The APs read the page with plain loads after the SIPI; the IPI write orders after this.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return start;
}

}  // namespace smpboot
