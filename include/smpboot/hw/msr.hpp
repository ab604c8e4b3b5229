// The architectural MSRs smpboot reads or writes that are not local APIC registers (Intel SDM
// Vol. 4, "Model-Specific Registers (MSRs)", table 2-2 "IA-32 Architectural MSRs"), with the
// fields it uses: IA32_APIC_BASE, which locates the local APIC and selects its mode (Vol. 3A
// 11.4.4 "Local APIC Status and Location", 11.12.1 "Detecting and Enabling x2APIC Mode"),
// IA32_EFER and IA32_GS_BASE. The APIC's own registers, MSRs 0x800 and up in x2APIC mode, are
// in apic_regs.hpp.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"

namespace smpboot {

namespace msr {
inline constexpr uint32_t kIa32ApicBase = 0x1B;
inline constexpr uint32_t kIa32Efer = 0xC000'0080;
inline constexpr uint32_t kIa32FsBase = 0xC000'0100;
inline constexpr uint32_t kIa32GsBase = 0xC000'0101;
}  // namespace msr

enum class ApicMode : uint8_t { kDisabled, kXApic, kX2Apic };

constexpr const char* apic_mode_name(ApicMode m) noexcept {
  return m == ApicMode::kX2Apic ? "x2apic" : m == ApicMode::kXApic ? "xapic" : "disabled";
}

// IA32_APIC_BASE (figure 11-5 "IA32_APIC_BASE MSR"; EXTD in figure 11-26).
struct ApicBase {
  uint64_t raw;

  static constexpr uint64_t kBspBit = field<8>.kMask;
  static constexpr uint64_t kExtdBit = field<10>.kMask;    // x2APIC mode enable
  static constexpr uint64_t kEnableBit = field<11>.kMask;  // APIC global enable
  static constexpr BitField<51, 12> kBaseField{};          // up to MAXPHYADDR 52
  static constexpr uint64_t kBaseMask = kBaseField.kMask;

  constexpr bool is_bsp() const noexcept { return (raw & kBspBit) != 0; }
  constexpr bool enabled() const noexcept { return (raw & kEnableBit) != 0; }
  constexpr bool x2apic() const noexcept { return (raw & kExtdBit) != 0; }
  constexpr uint64_t base_phys() const noexcept { return raw & kBaseMask; }
  // 11.12.5 "x2APIC State Transitions": EN=0,EXTD=1 is invalid; EN=1,EXTD=0 xAPIC;
  // EN=1,EXTD=1 x2APIC.
  constexpr ApicMode mode() const noexcept {
    return !enabled() ? ApicMode::kDisabled : x2apic() ? ApicMode::kX2Apic : ApicMode::kXApic;
  }
};
static_assert(ApicBase::kBspBit == 0x100 && ApicBase::kExtdBit == 0x400 &&
              ApicBase::kEnableBit == 0x800);
static_assert(ApicBase{0xFEE00900}.is_bsp() && ApicBase{0xFEE00900}.mode() == ApicMode::kXApic);
static_assert(ApicBase{0xFEE00D00}.mode() == ApicMode::kX2Apic);
static_assert(ApicBase{0xFEE00900}.base_phys() == 0xFEE00000);

// IA32_EFER (Vol. 3A 2.2.1 "Extended Feature Enable Register").
inline constexpr uint64_t kEferLme = field<8>.kMask;   // IA-32e mode enable
inline constexpr uint64_t kEferNxe = field<11>.kMask;  // execute-disable bit enable
static_assert(kEferLme == 0x100 && kEferNxe == 0x800);

}  // namespace smpboot
