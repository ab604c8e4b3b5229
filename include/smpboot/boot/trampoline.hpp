// Installing the trampoline blob (asm/trampoline.asm) in its SIPI page: check that the blob
// was built from this layout, copy it, fill in the parameter block and relocate the blob's
// absolute addresses for the page it now lives in. Runs on the BSP before any SIPI.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../percpu/cpu_table.hpp"
#include "trampoline_layout.hpp"

namespace smpboot {

struct TrampolineSetup {
  uint32_t cr3 = 0;                // page-table root below 4 GiB that identity-maps the page
  bool x2apic = false;             // APs enable x2APIC themselves
  bool nxe = true;                 // set EFER.NXE before paging
  TrampolineIdSource id_source = TrampolineIdSource::kApicRegister;
};

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
  if (setup.cr3 == 0 || (setup.cr3 & 0xFFFu) != 0) return Error::kLayoutMismatch;
  TrampolineParams p = *checked;
  p.page_phys = uint32_t(page_phys);
  p.cr3 = setup.cr3;
  p.flags = (setup.x2apic ? kTrampolineX2Apic : 0u) | (setup.nxe ? kTrampolineNxe : 0u);
  p.id_source = uint32_t(setup.id_source);
  p.slot_bits = CpuTable<Capacity>::kSlotBits;
  p.slots = reinterpret_cast<uint64_t>(table.slots());
  p.records = reinterpret_cast<uint64_t>(table.records());
  p.record_size = sizeof(CpuRecord);
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
