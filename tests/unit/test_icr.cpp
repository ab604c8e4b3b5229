// The Interrupt Command Register as a typed value and its two encodings (Intel SDM Vol. 3A,
// "Interrupt Command Register (ICR)" 11.6.1; "ICR Operation in x2APIC Mode" 11.12.9), plus the
// checked STARTUP page factory. Pure constexpr code: no fakes needed.
#include <doctest/doctest.h>

#include <smpboot/hw/icr.hpp>

#include <cstdint>
#include <initializer_list>

using smpboot::ApicId;
using smpboot::DeliveryMode;
using smpboot::Error;
using smpboot::IpiCommand;
using smpboot::Level;
using smpboot::Shorthand;
using smpboot::StartPage;
using smpboot::TriggerMode;
namespace icr = smpboot::icr;

namespace {

StartPage page_at(uint64_t phys) {
  auto page = StartPage::from_phys(phys);
  REQUIRE(page.ok());
  return page.value();
}

// ICR low-word fields by their SDM bit positions (figure "Interrupt Command Register").
uint32_t vector_of(uint32_t low) { return low & 0xFFu; }
uint32_t mode_of(uint32_t low) { return (low >> 8) & 0b111u; }
uint32_t dest_mode_of(uint32_t low) { return (low >> 11) & 1u; }
uint32_t delivery_status_of(uint32_t low) { return (low >> 12) & 1u; }
uint32_t level_of(uint32_t low) { return (low >> 14) & 1u; }
uint32_t trigger_of(uint32_t low) { return (low >> 15) & 1u; }
uint32_t shorthand_of(uint32_t low) { return (low >> 18) & 0b11u; }

}  // namespace

TEST_CASE("named constructors carry the SDM MP-initialization semantics") {
  const ApicId dest{7};

  SUBCASE("init_assert: INIT, level assert, edge, physical destination") {
    const IpiCommand c = IpiCommand::init_assert(dest);
    CHECK(c.mode == DeliveryMode::kInit);
    CHECK(c.level == Level::kAssert);
    CHECK(c.trigger == TriggerMode::kEdge);
    CHECK(c.shorthand == Shorthand::kNone);
    CHECK(c.destination.value == 7);
    CHECK(c.vector == 0);
  }
  SUBCASE("init_deassert: INIT, level 0, trigger level (11.6.1 'INIT Level De-assert')") {
    const IpiCommand c = IpiCommand::init_deassert(dest);
    CHECK(c.mode == DeliveryMode::kInit);
    CHECK(c.level == Level::kDeassert);
    CHECK(c.trigger == TriggerMode::kLevel);
    CHECK(c.destination.value == 7);
  }
  SUBCASE("startup: STARTUP with the page's vector, level assert, edge") {
    const IpiCommand c = IpiCommand::startup(dest, page_at(0x9F000));
    CHECK(c.mode == DeliveryMode::kStartup);
    CHECK(c.vector == 0x9F);
    CHECK(c.level == Level::kAssert);
    CHECK(c.trigger == TriggerMode::kEdge);
    CHECK(c.destination.value == 7);
  }
  SUBCASE("nmi: NMI, vector ignored (0), level assert") {
    const IpiCommand c = IpiCommand::nmi(dest);
    CHECK(c.mode == DeliveryMode::kNmi);
    CHECK(c.vector == 0);
    CHECK(c.level == Level::kAssert);
    CHECK(c.trigger == TriggerMode::kEdge);
  }
  SUBCASE("fixed: the given vector, level assert, edge") {
    const IpiCommand c = IpiCommand::fixed(dest, 0xEF);
    CHECK(c.mode == DeliveryMode::kFixed);
    CHECK(c.vector == 0xEF);
    CHECK(c.level == Level::kAssert);
    CHECK(c.trigger == TriggerMode::kEdge);
  }
  SUBCASE("broadcast variants use the all-excluding-self shorthand") {
    const IpiCommand init = IpiCommand::init_assert_all_excluding_self();
    CHECK(init.shorthand == Shorthand::kAllExcludingSelf);
    CHECK(init.mode == DeliveryMode::kInit);
    const IpiCommand sipi = IpiCommand::startup_all_excluding_self(page_at(0x8000));
    CHECK(sipi.shorthand == Shorthand::kAllExcludingSelf);
    CHECK(sipi.mode == DeliveryMode::kStartup);
    CHECK(sipi.vector == 0x08);
  }
}

TEST_CASE("low word: every field sits at its SDM bit position, nothing else is set") {
  // 11.6.1: vector 7:0, delivery mode 10:8, destination mode 11 (0 = physical), delivery
  // status 12 (read-only), level 14, trigger 15, shorthand 19:18; 13, 16-17, 20-31 reserved.
  const IpiCommand base = IpiCommand::fixed(ApicId{1}, 0);

  SUBCASE("vector") {
    for (uint32_t v = 0; v < 256; ++v) {
      IpiCommand c = base;
      c.vector = uint8_t(v);
      CHECK(vector_of(icr::encode_low(c)) == v);
    }
  }
  SUBCASE("delivery mode") {
    for (DeliveryMode m : {DeliveryMode::kFixed, DeliveryMode::kNmi, DeliveryMode::kInit,
                           DeliveryMode::kStartup}) {
      IpiCommand c = base;
      c.mode = m;
      CHECK(mode_of(icr::encode_low(c)) == uint32_t(m));
    }
    CHECK(uint32_t(DeliveryMode::kNmi) == 0b100);
    CHECK(uint32_t(DeliveryMode::kInit) == 0b101);
    CHECK(uint32_t(DeliveryMode::kStartup) == 0b110);
  }
  SUBCASE("level and trigger") {
    IpiCommand c = base;
    c.level = Level::kDeassert;
    c.trigger = TriggerMode::kLevel;
    CHECK(level_of(icr::encode_low(c)) == 0);
    CHECK(trigger_of(icr::encode_low(c)) == 1);
    c.level = Level::kAssert;
    c.trigger = TriggerMode::kEdge;
    CHECK(level_of(icr::encode_low(c)) == 1);
    CHECK(trigger_of(icr::encode_low(c)) == 0);
  }
  SUBCASE("shorthand") {
    for (Shorthand s : {Shorthand::kNone, Shorthand::kSelf, Shorthand::kAllIncludingSelf,
                        Shorthand::kAllExcludingSelf}) {
      IpiCommand c = base;
      c.shorthand = s;
      CHECK(shorthand_of(icr::encode_low(c)) == uint32_t(s));
    }
  }
  SUBCASE("physical destination mode, delivery status clear, reserved bits clear") {
    const IpiCommand all[] = {
        IpiCommand::init_assert(ApicId{0xFE}),
        IpiCommand::init_deassert(ApicId{0xFE}),
        IpiCommand::startup(ApicId{0xFE}, page_at(0xFF000)),
        IpiCommand::nmi(ApicId{0xFFFF'FFFE}),
        IpiCommand::fixed(ApicId{0xFFFF'FFFE}, 0xFF),
        IpiCommand::init_assert_all_excluding_self(),
        IpiCommand::startup_all_excluding_self(page_at(0xFF000)),
    };
    constexpr uint32_t kReserved = (1u << 13) | (0b11u << 16) | 0xFFF0'0000u;
    for (const IpiCommand& c : all) {
      const uint32_t low = icr::encode_low(c);
      CAPTURE(low);
      CHECK(dest_mode_of(low) == 0);
      CHECK(delivery_status_of(low) == 0);
      CHECK((low & kReserved) == 0);
    }
  }
}

TEST_CASE("SDM MP-initialization golden values: broadcast INIT 000C4500H, SIPI 000C46XXH") {
  // SDM 9.4.4.1 "Typical BSP Initialization Sequence": MOV EAX, 000C4500H; ... 000C46XXH.
  static_assert(icr::encode_low(IpiCommand::init_assert_all_excluding_self()) == 0x000C4500u);
  CHECK(icr::encode_low(IpiCommand::init_assert_all_excluding_self()) == 0x000C4500u);
  for (uint32_t vector = 0x01; vector <= 0xFF; ++vector) {
    if (vector >= 0xA0 && vector <= 0xBF) continue;
    CAPTURE(vector);
    const uint32_t low =
        icr::encode_low(IpiCommand::startup_all_excluding_self(page_at(uint64_t{vector} << 12)));
    CHECK(low == (0x000C4600u | vector));
  }
}

TEST_CASE("unicast low words: INIT 4500H, INIT de-assert 8500H, SIPI 46VVH, NMI 4400H") {
  CHECK(icr::encode_low(IpiCommand::init_assert(ApicId{3})) == 0x0000'4500u);
  CHECK(icr::encode_low(IpiCommand::init_deassert(ApicId{3})) == 0x0000'8500u);
  CHECK(icr::encode_low(IpiCommand::startup(ApicId{3}, page_at(0x8000))) == 0x0000'4608u);
  CHECK(icr::encode_low(IpiCommand::nmi(ApicId{3})) == 0x0000'4400u);
  CHECK(icr::encode_low(IpiCommand::fixed(ApicId{3}, 0x30)) == 0x0000'4030u);
}

TEST_CASE("xAPIC encoding: destination in ICR_HIGH bits 31:24, low word as in both modes") {
  // 11.6.1: the destination field is ICR bits 63:56, i.e. bits 31:24 of the high doubleword;
  // bits 23:0 of ICR_HIGH are reserved.
  for (uint32_t id : {0u, 1u, 3u, 0x7Fu, 0xFEu}) {
    CAPTURE(id);
    const IpiCommand c = IpiCommand::init_assert(ApicId{id});
    const icr::XApicIcr x = icr::encode_xapic(c);
    CHECK(x.high == id << 24);
    CHECK((x.high & 0x00FF'FFFFu) == 0);
    CHECK(x.low == icr::encode_low(c));
  }
  CHECK(icr::encode_xapic(IpiCommand::startup(ApicId{0x12}, page_at(0x9F000))) ==
        icr::XApicIcr{0x1200'0000u, 0x0000'469Fu});
}

TEST_CASE("x2APIC encoding: one 64-bit value, 32-bit destination in bits 63:32") {
  // 11.12.9: "The destination ID field is expanded to 32 bits in x2APIC mode", and the low 32
  // bits are the xAPIC low word (delivery status is not used).
  for (uint32_t id : {0u, 0xFFu, 0x100u, 0x12345u, 0x8000'0000u, 0xFFFF'FFFEu}) {
    CAPTURE(id);
    for (const IpiCommand& c : {IpiCommand::init_assert(ApicId{id}),
                                IpiCommand::startup(ApicId{id}, page_at(0x8000)),
                                IpiCommand::nmi(ApicId{id})}) {
      const uint64_t v = icr::encode_x2apic(c);
      CHECK(uint32_t(v >> 32) == id);
      CHECK(uint32_t(v) == icr::encode_low(c));
    }
  }
  CHECK(icr::encode_x2apic(IpiCommand::init_assert(ApicId{0x12345})) == 0x0001'2345'0000'4500ull);
  CHECK(icr::encode_x2apic(IpiCommand::startup(ApicId{0x12345}, page_at(0x8000))) ==
        0x0001'2345'0000'4608ull);
}

TEST_CASE("xAPIC encoding keeps only the low 8 bits of a destination (callers check first)") {
  // XApic::send refuses such IDs with kDestinationTooWide before encoding; the encoder itself
  // must at least never spill into ICR_HIGH's reserved bits.
  const icr::XApicIcr x = icr::encode_xapic(IpiCommand::init_assert(ApicId{0x12345}));
  CHECK(x.high == 0x4500'0000u);
  CHECK((x.high & 0x00FF'FFFFu) == 0);
}

TEST_CASE("shorthand commands carry no destination in either encoding") {
  const IpiCommand init = IpiCommand::init_assert_all_excluding_self();
  CHECK(icr::encode_xapic(init) == icr::XApicIcr{0, 0x000C'4500u});
  CHECK(icr::encode_x2apic(init) == 0x000C'4500ull);
  const IpiCommand sipi = IpiCommand::startup_all_excluding_self(page_at(0x10000));
  CHECK(icr::encode_xapic(sipi) == icr::XApicIcr{0, 0x000C'4610u});
  CHECK(icr::encode_x2apic(sipi) == 0x000C'4610ull);
}

TEST_CASE("StartPage::from_phys accepts only 4 KiB pages below 1 MiB outside A0H-BFH") {
  // SDM 9.4.4.1 / 11.6.1: the AP starts in real mode at CS = vector << 8, IP = 0, so the page
  // is vector << 12 with an 8-bit vector: 4 KiB aligned and below 1 MiB. Vectors A0H-BFH are
  // reserved for STARTUP (MP Specification 1.4, B.4.2; the range is legacy video memory).
  SUBCASE("page 0 is refused (real-mode IVT/BDA; also the error state's value)") {
    CHECK(StartPage::from_phys(0).error() == Error::kInvalidStartPage);
  }
  SUBCASE("unaligned addresses are refused") {
    for (uint64_t phys : {0x1ull, 0x8001ull, 0x8800ull, 0x8FFFull, 0x9F001ull, 0xFFFFFull}) {
      CAPTURE(phys);
      CHECK(StartPage::from_phys(phys).error() == Error::kInvalidStartPage);
    }
  }
  SUBCASE("valid pages give vector = phys >> 12 and round-trip") {
    for (uint64_t phys : {0x1000ull, 0x8000ull, 0x9F000ull, 0xC0000ull, 0xFF000ull}) {
      CAPTURE(phys);
      auto page = StartPage::from_phys(phys);
      REQUIRE(page.ok());
      CHECK(page->vector() == uint8_t(phys >> 12));
      CHECK(page->phys_addr() == phys);
    }
  }
  SUBCASE("0x9F000 is the last page below the reserved range") {
    CHECK(StartPage::from_phys(0x9F000).ok());
  }
  SUBCASE("every page of 0xA0000-0xBF000 is refused") {
    for (uint64_t phys = 0xA0000; phys <= 0xBF000; phys += 0x1000) {
      CAPTURE(phys);
      CHECK(StartPage::from_phys(phys).error() == Error::kInvalidStartPage);
    }
    CHECK(StartPage::from_phys(0xC0000).ok());
  }
  SUBCASE("1 MiB and above is refused, even where the low bits alias a valid vector") {
    for (uint64_t phys : {0x100000ull, 0x108000ull, 0x1'0000'8000ull, 0xFFFF'FFFF'FFFF'F000ull}) {
      CAPTURE(phys);
      CHECK(StartPage::from_phys(phys).error() == Error::kInvalidStartPage);
    }
  }
  SUBCASE("the factory is usable in constant expressions") {
    static_assert(StartPage::from_phys(0x8000).value().vector() == 0x08);
    static_assert(!StartPage::from_phys(0xA0000).ok());
    CHECK(StartPage::from_phys(0x8000).ok());
  }
}

TEST_CASE("IpiCommand equality compares every field") {
  const IpiCommand a = IpiCommand::init_assert(ApicId{1});
  CHECK(a == IpiCommand::init_assert(ApicId{1}));
  CHECK_FALSE(a == IpiCommand::init_assert(ApicId{2}));
  CHECK_FALSE(a == IpiCommand::init_deassert(ApicId{1}));
  IpiCommand b = a;
  b.shorthand = Shorthand::kSelf;
  CHECK_FALSE(a == b);
}
