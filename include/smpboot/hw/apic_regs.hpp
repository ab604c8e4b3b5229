// The local APIC's registers, each listed once (Intel SDM Vol. 3A, "Local APIC Register Address
// Map", table 11-1) with the MSR the same register is in x2APIC mode: 0x800 + offset / 16
// ("x2APIC Register Address Space", 11.12.1.2, table 11-6). Also the fields smpboot writes
// (SVR, LVT timer, divide configuration) and the ESR bits. IA32_APIC_BASE, which selects the
// mode, is an ordinary MSR and lives in msr.hpp; the ICR's layout is icr.hpp.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"

namespace smpboot {

// A register by its offset in the 4 KiB xAPIC page. Registers are 16-byte aligned there, and
// x2APIC mode maps each to one MSR of a dense range.
struct ApicRegister {
  uint32_t xapic_offset;

  constexpr uint32_t x2apic_msr() const noexcept { return 0x800 + xapic_offset / 16; }
};

namespace apic_reg {
inline constexpr ApicRegister kId{0x020};
inline constexpr ApicRegister kVersion{0x030};
inline constexpr ApicRegister kTpr{0x080};
inline constexpr ApicRegister kEoi{0x0B0};
inline constexpr ApicRegister kSvr{0x0F0};
inline constexpr ApicRegister kEsr{0x280};
// ICR bits 31:0. In x2APIC mode its MSR (0x830) is the whole 64-bit ICR, written at once, and
// kIcrHigh has no MSR (11.12.9 "ICR Operation in x2APIC Mode").
inline constexpr ApicRegister kIcrLow{0x300};
inline constexpr ApicRegister kIcrHigh{0x310};  // ICR bits 63:32, xAPIC only
inline constexpr ApicRegister kLvtTimer{0x320};
inline constexpr ApicRegister kTimerInitialCount{0x380};
inline constexpr ApicRegister kTimerCurrentCount{0x390};
inline constexpr ApicRegister kTimerDivide{0x3E0};
}  // namespace apic_reg

// Golden values: the MSR addresses of table 11-6.
static_assert(apic_reg::kId.x2apic_msr() == 0x802 && apic_reg::kVersion.x2apic_msr() == 0x803);
static_assert(apic_reg::kTpr.x2apic_msr() == 0x808 && apic_reg::kEoi.x2apic_msr() == 0x80B);
static_assert(apic_reg::kSvr.x2apic_msr() == 0x80F && apic_reg::kEsr.x2apic_msr() == 0x828);
static_assert(apic_reg::kIcrLow.x2apic_msr() == 0x830 && apic_reg::kLvtTimer.x2apic_msr() == 0x832);
static_assert(apic_reg::kTimerInitialCount.x2apic_msr() == 0x838 &&
              apic_reg::kTimerCurrentCount.x2apic_msr() == 0x839 &&
              apic_reg::kTimerDivide.x2apic_msr() == 0x83E);

// Local APIC ID register (11.4.6 "Local APIC ID"): in xAPIC mode the 8-bit ID is bits 31:24;
// in x2APIC mode the whole 32-bit register is the ID (11.12.5.1).
inline constexpr BitField<31, 24> kXApicIdField{};

// Spurious-Interrupt Vector Register (11.9 "Spurious Interrupt"): bit 8 software-enables the
// APIC, bits 7:0 are the spurious vector.
namespace svr {
inline constexpr BitField<7, 0> kVector{};
inline constexpr BitField<8> kSoftwareEnable{};
}  // namespace svr

// LVT timer register and divide configuration (11.5.4 "APIC Timer", figure 11-8 "Local Vector
// Table (LVT)", figure 11-10 "Divide Configuration Register").
namespace lvt_timer {
inline constexpr BitField<7, 0> kVector{};
inline constexpr BitField<16> kMask{};
inline constexpr BitField<18, 17> kMode{};
inline constexpr uint32_t kModeOneShot = 0b00;
inline constexpr uint32_t kModePeriodic = 0b01;
inline constexpr uint32_t kDivideBy16 = 0b0011;  // divide configuration bits 3, 1:0 = 0, 11b
}  // namespace lvt_timer

// ESR bits (11.5.3 "Error Handling"): which send/receive error the last IPI hit.
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
