// IA32_APIC_BASE decoding and switching the local APIC mode (Intel SDM Vol. 3A 11.4.4 "Local
// APIC Status and Location"; 11.12.1 "Detecting and Enabling x2APIC Mode"; 11.12.5 "x2APIC
// State Transitions"), against FakeMsr and FakeCpuid. FakeMsrState's sticky bits emulate QEMU
// TCG, which ignores a write of EXTD instead of faulting.
#include <doctest/doctest.h>

#include <smpboot/apic/apic_base.hpp>
#include <smpboot/testing/fakes.hpp>

#include <cstdint>

using smpboot::ApicBase;
using smpboot::ApicMode;
using smpboot::CpuidRegs;
using smpboot::Error;
using smpboot::enable_apic_mode;
using smpboot::preferred_apic_mode;
using smpboot::testing::AccessKind;
using smpboot::testing::FakeCpuid;
using smpboot::testing::FakeMsr;
using smpboot::testing::FakeMsrState;

namespace {

constexpr uint32_t kApicBaseMsr = 0x1B;
constexpr uint64_t kBsp = 1ull << 8;
constexpr uint64_t kExtd = 1ull << 10;
constexpr uint64_t kEn = 1ull << 11;
constexpr uint64_t kDefaultBase = 0xFEE0'0000ull;

// CPUID.00H:EAX = max basic leaf; CPUID.01H:ECX[21] = x2APIC.
FakeCpuid cpu_with_x2apic(bool x2apic, uint32_t max_basic_leaf = 0x16) {
  FakeCpuid c;
  c.set(0, 0, CpuidRegs{.eax = max_basic_leaf});
  c.set(1, 0, CpuidRegs{.ecx = x2apic ? 1u << 21 : 0u, .edx = 1u << 9});
  return c;
}

uint32_t apic_base_writes(const FakeMsrState& s) { return s.log.writes_to(kApicBaseMsr); }

}  // namespace

TEST_CASE("ApicBase decodes BSP, EXTD, EN and the base address") {
  SUBCASE("BSP in xAPIC mode at the default base") {
    const ApicBase b{kDefaultBase | kEn | kBsp};
    CHECK(b.is_bsp());
    CHECK(b.enabled());
    CHECK_FALSE(b.x2apic());
    CHECK(b.mode() == ApicMode::kXApic);
    CHECK(b.base_phys() == kDefaultBase);
  }
  SUBCASE("AP in x2APIC mode") {
    const ApicBase b{kDefaultBase | kEn | kExtd};
    CHECK_FALSE(b.is_bsp());
    CHECK(b.mode() == ApicMode::kX2Apic);
  }
  SUBCASE("EN clear is disabled, whatever EXTD says (EN=0, EXTD=1 is the invalid state)") {
    CHECK(ApicBase{kDefaultBase}.mode() == ApicMode::kDisabled);
    CHECK(ApicBase{kDefaultBase | kExtd}.mode() == ApicMode::kDisabled);
    CHECK(ApicBase{0}.mode() == ApicMode::kDisabled);
  }
  SUBCASE("base address is bits 51:12; flags and bits 63:52 are not part of it") {
    CHECK(ApicBase{0x000F'FFFF'FFFF'FFFFull}.base_phys() == 0x000F'FFFF'FFFF'F000ull);
    CHECK(ApicBase{0xFFF0'0001'2340'0D00ull}.base_phys() == 0x0000'0001'2340'0000ull);
    CHECK(ApicBase{0xFEC0'0FFFull}.base_phys() == 0xFEC0'0000ull);
  }
}

TEST_CASE("enable_apic_mode: xAPIC to x2APIC sets EXTD when CPUID.01H:ECX[21] is set") {
  FakeMsrState msrs;
  msrs.set(kApicBaseMsr, kDefaultBase | kEn | kBsp);
  FakeMsr msr{msrs};
  FakeCpuid cpuid = cpu_with_x2apic(true);
  auto r = enable_apic_mode(msr, cpuid, ApicMode::kX2Apic);
  REQUIRE(r.ok());
  CHECK(*r == ApicMode::kX2Apic);
  // One write: EN stays set, EXTD 0 -> 1, base and BSP preserved.
  CHECK(apic_base_writes(msrs) == 1);
  CHECK(msrs.get(kApicBaseMsr) == (kDefaultBase | kEn | kBsp | kExtd));
}

TEST_CASE("enable_apic_mode refuses x2APIC with kX2ApicUnsupported when the CPUID bit is clear") {
  SUBCASE("CPUID.01H:ECX[21] clear") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase | kEn | kBsp);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(false);
    CHECK(enable_apic_mode(msr, cpuid, ApicMode::kX2Apic).error() == Error::kX2ApicUnsupported);
    CHECK(apic_base_writes(msrs) == 0);
    CHECK(msrs.get(kApicBaseMsr) == (kDefaultBase | kEn | kBsp));
  }
  SUBCASE("leaf 01H not implemented (max basic leaf 0): its bits are not trusted") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase | kEn);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true, /*max_basic_leaf=*/0);
    CHECK(enable_apic_mode(msr, cpuid, ApicMode::kX2Apic).error() == Error::kX2ApicUnsupported);
    CHECK(apic_base_writes(msrs) == 0);
  }
}

TEST_CASE("enable_apic_mode reports kX2ApicUnsupported when EXTD does not stick (QEMU TCG)") {
  FakeMsrState msrs;
  msrs.set(kApicBaseMsr, kDefaultBase | kEn | kBsp);
  msrs.sticky_msr = kApicBaseMsr;
  msrs.sticky_mask = kExtd;
  FakeMsr msr{msrs};
  FakeCpuid cpuid = cpu_with_x2apic(true);
  CHECK(enable_apic_mode(msr, cpuid, ApicMode::kX2Apic).error() == Error::kX2ApicUnsupported);
  // The write was attempted, read back, and found not to have taken effect.
  CHECK(apic_base_writes(msrs) == 1);
  const auto& last = msrs.log.entries[msrs.log.count - 1];
  CHECK(last.kind == AccessKind::kRead);
  CHECK(last.reg == kApicBaseMsr);
  CHECK(ApicBase{msrs.get(kApicBaseMsr)}.mode() == ApicMode::kXApic);
}

TEST_CASE("enable_apic_mode enables a globally disabled APIC") {
  SUBCASE("to xAPIC") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase | kBsp);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true);
    auto r = enable_apic_mode(msr, cpuid, ApicMode::kXApic);
    REQUIRE(r.ok());
    CHECK(*r == ApicMode::kXApic);
    CHECK(msrs.get(kApicBaseMsr) == (kDefaultBase | kBsp | kEn));
  }
  SUBCASE("to x2APIC: disabled -> xAPIC -> x2APIC, both legal steps (SDM 11.12.5)") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true);
    auto r = enable_apic_mode(msr, cpuid, ApicMode::kX2Apic);
    REQUIRE(r.ok());
    CHECK(*r == ApicMode::kX2Apic);
    CHECK(msrs.get(kApicBaseMsr) == (kDefaultBase | kEn | kExtd));
    // Never the invalid EN=0, EXTD=1 combination on the way.
    for (uint32_t i = 0; i < msrs.log.count; ++i) {
      const auto& a = msrs.log.entries[i];
      if (a.kind == AccessKind::kWrite) CHECK_FALSE(((a.value & kExtd) && !(a.value & kEn)));
    }
  }
  SUBCASE("EN that does not stick gives kApicDisabled") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase);
    msrs.sticky_msr = kApicBaseMsr;
    msrs.sticky_mask = kEn;
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true);
    CHECK(enable_apic_mode(msr, cpuid, ApicMode::kXApic).error() == Error::kApicDisabled);
  }
}

TEST_CASE("enable_apic_mode refuses x2APIC -> xAPIC with its own error (SDM 11.12.5: needs a disable first)") {
  // "A transition from the x2APIC mode to xAPIC mode is not valid, and the corresponding WRMSR
  // to the IA32_APIC_BASE MSR causes a general-protection exception": so no write at all.
  FakeMsrState msrs;
  msrs.set(kApicBaseMsr, kDefaultBase | kEn | kExtd);
  FakeMsr msr{msrs};
  FakeCpuid cpuid = cpu_with_x2apic(true);
  auto r = enable_apic_mode(msr, cpuid, ApicMode::kXApic);
  CHECK(r.error() == Error::kX2ApicToXApicRefused);  // the CPU does support x2APIC
  CHECK(apic_base_writes(msrs) == 0);
  CHECK(msrs.get(kApicBaseMsr) == (kDefaultBase | kEn | kExtd));
}

TEST_CASE("enable_apic_mode leaves an APIC already in the wanted mode untouched") {
  SUBCASE("xAPIC") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase | kEn);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true);
    auto r = enable_apic_mode(msr, cpuid, ApicMode::kXApic);
    REQUIRE(r.ok());
    CHECK(*r == ApicMode::kXApic);
    CHECK(apic_base_writes(msrs) == 0);
  }
  SUBCASE("x2APIC") {
    FakeMsrState msrs;
    msrs.set(kApicBaseMsr, kDefaultBase | kEn | kExtd);
    FakeMsr msr{msrs};
    FakeCpuid cpuid = cpu_with_x2apic(true);
    auto r = enable_apic_mode(msr, cpuid, ApicMode::kX2Apic);
    REQUIRE(r.ok());
    CHECK(*r == ApicMode::kX2Apic);
    CHECK(apic_base_writes(msrs) == 0);
  }
}

TEST_CASE("preferred_apic_mode: x2APIC exactly when CPUID.01H:ECX[21] is set") {
  FakeCpuid with = cpu_with_x2apic(true);
  FakeCpuid without = cpu_with_x2apic(false);
  FakeCpuid no_leaf1 = cpu_with_x2apic(true, 0);
  CHECK(preferred_apic_mode(with) == ApicMode::kX2Apic);
  CHECK(preferred_apic_mode(without) == ApicMode::kXApic);
  CHECK(preferred_apic_mode(no_leaf1) == ApicMode::kXApic);
}
