// The Interrupt Command Register as one typed, mode-independent value (Intel SDM Vol. 3A,
// "Interrupt Command Register (ICR)", 11.6.1), plus its two encodings: xAPIC (two 32-bit MMIO
// writes, 8-bit destination, delivery-status bit) and x2APIC (one 64-bit WRMSR to 0x830, 32-bit
// destination, no delivery-status bit; "Interrupt Command Register Operation in x2APIC Mode",
// 11.12.9). Named constructors carry the MP-initialization semantics ("Multiple-Processor (MP)
// Initialization", 9.4) once, so call sites never shift raw bits.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"

namespace smpboot {

enum class DeliveryMode : uint8_t {
  kFixed = 0b000,
  kNmi = 0b100,
  kInit = 0b101,  // with level=deassert and trigger=level this is "INIT level de-assert"
  kStartup = 0b110,
};

enum class Level : uint8_t { kDeassert = 0, kAssert = 1 };
enum class TriggerMode : uint8_t { kEdge = 0, kLevel = 1 };

enum class Shorthand : uint8_t {
  kNone = 0b00,
  kSelf = 0b01,
  kAllIncludingSelf = 0b10,
  kAllExcludingSelf = 0b11,
};

// Physical page an AP starts at after a STARTUP IPI: CS = vector << 8, IP = 0, i.e. physical
// address vector << 12 (SDM 9.4.4.1 "Typical BSP Initialization Sequence"; 11.6.1 says vectors
// A0H-BFH are reserved for STARTUP). Only constructible through the checked factory.
class StartPage {
 public:
  static constexpr Result<StartPage> from_phys(uint64_t phys_addr) noexcept {
    if ((phys_addr & 0xFFFu) != 0 || phys_addr >= 0x100000u || phys_addr == 0) {
      return Error::kInvalidStartPage;
    }
    const auto vector = static_cast<uint8_t>(phys_addr >> 12);
    if (vector >= 0xA0 && vector <= 0xBF) return Error::kInvalidStartPage;
    return StartPage(vector);
  }
  constexpr StartPage() noexcept = default;  // only for Result<StartPage>'s error state
  constexpr uint8_t vector() const noexcept { return vector_; }
  constexpr uint64_t phys_addr() const noexcept { return uint64_t{vector_} << 12; }

 private:
  constexpr explicit StartPage(uint8_t vector) noexcept : vector_(vector) {}
  uint8_t vector_ = 0;
};

struct IpiCommand {
  uint8_t vector = 0;
  DeliveryMode mode = DeliveryMode::kFixed;
  Level level = Level::kAssert;
  TriggerMode trigger = TriggerMode::kEdge;
  Shorthand shorthand = Shorthand::kNone;
  ApicId destination{0};  // ignored when shorthand != kNone; physical destination mode only

  constexpr bool operator==(const IpiCommand&) const = default;

  // INIT: resets the target into wait-for-SIPI (SDM 9.4.4.1).
  static constexpr IpiCommand init_assert(ApicId dest) noexcept {
    return {.mode = DeliveryMode::kInit, .level = Level::kAssert, .trigger = TriggerMode::kEdge,
            .destination = dest};
  }
  // INIT level de-assert: only P6/Pentium-era APICs need it; modern CPUs ignore it (SDM
  // 11.6.1, "INIT Level De-assert"). Kept so a platform that wants the MP-spec sequence has it.
  static constexpr IpiCommand init_deassert(ApicId dest) noexcept {
    return {.mode = DeliveryMode::kInit, .level = Level::kDeassert,
            .trigger = TriggerMode::kLevel, .destination = dest};
  }
  static constexpr IpiCommand startup(ApicId dest, StartPage page) noexcept {
    return {.vector = page.vector(), .mode = DeliveryMode::kStartup, .level = Level::kAssert,
            .destination = dest};
  }
  static constexpr IpiCommand nmi(ApicId dest) noexcept {
    return {.mode = DeliveryMode::kNmi, .level = Level::kAssert, .destination = dest};
  }
  static constexpr IpiCommand fixed(ApicId dest, uint8_t vector) noexcept {
    return {.vector = vector, .mode = DeliveryMode::kFixed, .level = Level::kAssert,
            .destination = dest};
  }
  static constexpr IpiCommand init_assert_all_excluding_self() noexcept {
    IpiCommand c = init_assert(ApicId{0});
    c.shorthand = Shorthand::kAllExcludingSelf;
    return c;
  }
  static constexpr IpiCommand startup_all_excluding_self(StartPage page) noexcept {
    IpiCommand c = startup(ApicId{0}, page);
    c.shorthand = Shorthand::kAllExcludingSelf;
    return c;
  }
};

// The ICR's fields (11.6.1, figure 11-12 "Interrupt Command Register (ICR)"; destination mode
// bit 11 stays 0, physical). Bits 19:0 are the same in both modes; the destination is bits
// 63:56 in xAPIC mode and 63:32 in x2APIC mode (11.12.9).
namespace icr {
inline constexpr BitField<7, 0> kVector{};
inline constexpr BitField<10, 8> kDeliveryMode{};
inline constexpr BitField<12> kDeliveryStatus{};  // xAPIC only: "send pending"
inline constexpr BitField<14> kLevel{};
inline constexpr BitField<15> kTriggerMode{};
inline constexpr BitField<19, 18> kShorthand{};
inline constexpr BitField<63, 56> kXApicDestination{};
inline constexpr BitField<63, 32> kX2ApicDestination{};

inline constexpr uint32_t kDeliveryStatusBit = uint32_t(kDeliveryStatus.kMask);

// ICR bits 31:0, identical in both modes.
constexpr uint32_t encode_low(const IpiCommand& c) noexcept {
  return uint32_t(kVector.of(c.vector) | kDeliveryMode.of(uint64_t(c.mode)) |
                  kLevel.of(uint64_t(c.level)) | kTriggerMode.of(uint64_t(c.trigger)) |
                  kShorthand.of(uint64_t(c.shorthand)));
}

// xAPIC: ICR_HIGH (bits 63:32) is written first, because writing ICR_LOW sends.
struct XApicIcr {
  uint32_t high;
  uint32_t low;
  constexpr bool operator==(const XApicIcr&) const = default;
};

constexpr XApicIcr encode_xapic(const IpiCommand& c) noexcept {
  return {.high = uint32_t(kXApicDestination.of(c.destination.value) >> 32),
          .low = encode_low(c)};
}

constexpr uint64_t encode_x2apic(const IpiCommand& c) noexcept {
  return kX2ApicDestination.of(c.destination.value) | encode_low(c);
}
}  // namespace icr

// Golden values from SDM 9.4.4.1 ("MOV ESI, ICR_LOW; MOV EAX, 000C4500H" then "000C46XXH").
static_assert(icr::encode_low(IpiCommand::init_assert_all_excluding_self()) == 0x000C4500u);
static_assert(icr::encode_low(IpiCommand::startup_all_excluding_self(
                  StartPage::from_phys(0x8000).value())) == 0x000C4608u);
static_assert(icr::encode_xapic(IpiCommand::init_assert(ApicId{3})) ==
              icr::XApicIcr{0x03000000u, 0x00004500u});
static_assert(icr::encode_x2apic(IpiCommand::nmi(ApicId{0x12345})) == 0x0001234500004400ull);
static_assert(icr::encode_low(IpiCommand::init_deassert(ApicId{1})) == 0x00008500u);
static_assert(!StartPage::from_phys(0x8001).ok() && !StartPage::from_phys(0x100000).ok() &&
              !StartPage::from_phys(0xA0000).ok() && StartPage::from_phys(0x9F000).ok());

}  // namespace smpboot
