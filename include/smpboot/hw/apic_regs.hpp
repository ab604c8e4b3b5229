// Local APIC registers and the IA32_APIC_BASE MSR (Intel SDM Vol. 3A, "Local APIC Register
// Address Map", table 11-1; "x2APIC Register Address Space", table 11-6; "Local APIC Status and
// Location", 11.4.4). x2APIC MSR numbers are 0x800 + (xAPIC MMIO offset >> 4).
#pragma once

#include <stdint.h>

#include "../core/types.hpp"

namespace smpboot {

enum class ApicMode : uint8_t { kDisabled, kXApic, kX2Apic };

constexpr const char* apic_mode_name(ApicMode m) noexcept {
  return m == ApicMode::kX2Apic ? "x2apic" : m == ApicMode::kXApic ? "xapic" : "disabled";
}

namespace msr {
inline constexpr uint32_t kIa32ApicBase = 0x1B;
inline constexpr uint32_t kIa32GsBase = 0xC0000101;
inline constexpr uint32_t kIa32KernelGsBase = 0xC0000102;
inline constexpr uint32_t kIa32Efer = 0xC0000080;
}  // namespace msr

// IA32_APIC_BASE: BSP flag bit 8, EXTD (x2APIC enable) bit 10, EN bit 11, base from bit 12.
struct ApicBase {
  uint64_t raw;

  static constexpr uint64_t kBspBit = 1ull << 8;
  static constexpr uint64_t kExtdBit = 1ull << 10;
  static constexpr uint64_t kEnableBit = 1ull << 11;
  static constexpr uint64_t kBaseMask = 0x000F'FFFF'FFFF'F000ull;  // up to MAXPHYADDR 52

  constexpr bool is_bsp() const noexcept { return (raw & kBspBit) != 0; }
  constexpr bool enabled() const noexcept { return (raw & kEnableBit) != 0; }
  constexpr bool x2apic() const noexcept { return (raw & kExtdBit) != 0; }
  constexpr uint64_t base_phys() const noexcept { return raw & kBaseMask; }
  // SDM 11.12.5: EN=0,EXTD=1 is invalid; EN=1,EXTD=0 xAPIC; EN=1,EXTD=1 x2APIC.
  constexpr ApicMode mode() const noexcept {
    return !enabled() ? ApicMode::kDisabled : x2apic() ? ApicMode::kX2Apic : ApicMode::kXApic;
  }
};
static_assert(ApicBase{0xFEE00900}.is_bsp() && ApicBase{0xFEE00900}.mode() == ApicMode::kXApic);
static_assert(ApicBase{0xFEE00D00}.mode() == ApicMode::kX2Apic);
static_assert(ApicBase{0xFEE00900}.base_phys() == 0xFEE00000);

namespace xapic_reg {
inline constexpr uint32_t kId = 0x020;        // bits 31:24 hold the 8-bit APIC ID
inline constexpr uint32_t kVersion = 0x030;
inline constexpr uint32_t kTpr = 0x080;
inline constexpr uint32_t kEoi = 0x0B0;
inline constexpr uint32_t kSvr = 0x0F0;      // spurious vector; bit 8 = APIC software enable
inline constexpr uint32_t kEsr = 0x280;
inline constexpr uint32_t kIcrLow = 0x300;
inline constexpr uint32_t kIcrHigh = 0x310;
inline constexpr uint32_t kLvtTimer = 0x320;
inline constexpr uint32_t kTimerInitialCount = 0x380;
inline constexpr uint32_t kTimerCurrentCount = 0x390;
inline constexpr uint32_t kTimerDivide = 0x3E0;
}  // namespace xapic_reg

namespace x2apic_msr {
inline constexpr uint32_t kId = 0x802;  // full 32-bit x2APIC ID
inline constexpr uint32_t kVersion = 0x803;
inline constexpr uint32_t kTpr = 0x808;
inline constexpr uint32_t kEoi = 0x80B;
inline constexpr uint32_t kSvr = 0x80F;
inline constexpr uint32_t kEsr = 0x828;
inline constexpr uint32_t kIcr = 0x830;  // one 64-bit write sends the IPI
inline constexpr uint32_t kLvtTimer = 0x832;
inline constexpr uint32_t kTimerInitialCount = 0x838;
inline constexpr uint32_t kTimerCurrentCount = 0x839;
inline constexpr uint32_t kTimerDivide = 0x83E;
}  // namespace x2apic_msr

static_assert(x2apic_msr::kEsr == 0x800 + (xapic_reg::kEsr >> 4));
static_assert(x2apic_msr::kIcr == 0x800 + (xapic_reg::kIcrLow >> 4));
static_assert(x2apic_msr::kSvr == 0x800 + (xapic_reg::kSvr >> 4));

static_assert(x2apic_msr::kLvtTimer == 0x800 + (xapic_reg::kLvtTimer >> 4));
static_assert(x2apic_msr::kTimerDivide == 0x800 + (xapic_reg::kTimerDivide >> 4));

inline constexpr uint32_t kSvrSoftwareEnable = 1u << 8;

// LVT timer (SDM 11.5.4 "APIC Timer"): bits 18:17 mode (01b periodic), bit 16 mask.
namespace lvt_timer {
inline constexpr uint32_t kPeriodic = 1u << 17;
inline constexpr uint32_t kMasked = 1u << 16;
inline constexpr uint32_t kDivideBy16 = 0b0011;  // divide configuration register encoding
}  // namespace lvt_timer

// ESR bits (SDM 11.5.3 "Error Handling"): which send/receive error the last IPI hit.
namespace esr {
inline constexpr uint32_t kSendChecksum = 1u << 0;
inline constexpr uint32_t kReceiveChecksum = 1u << 1;
inline constexpr uint32_t kSendAccept = 1u << 2;
inline constexpr uint32_t kReceiveAccept = 1u << 3;
inline constexpr uint32_t kRedirectableIpi = 1u << 4;
inline constexpr uint32_t kSendIllegalVector = 1u << 5;
inline constexpr uint32_t kReceiveIllegalVector = 1u << 6;
inline constexpr uint32_t kIllegalRegister = 1u << 7;
}  // namespace esr

}  // namespace smpboot
