// APIC-ID sources: the APIC ID register (xAPIC ID[31:24], x2APIC MSR 0x802) and the CPUID leaves
// 1FH/0BH (32-bit x2APIC ID in EDX), 01H (8-bit initial APIC ID in EBX[31:24]) and AMD
// 8000_001Eh (EAX), each valid only where the CPU implements it (Intel SDM Vol. 2A "CPUID";
// AMD APM Vol. 3 appendix E), and the chain 1FH > 0BH > 01H.
#include <doctest/doctest.h>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/apic/xapic.hpp>
#include <smpboot/boot/trampoline.hpp>
#include <smpboot/discovery/apic_id.hpp>
#include <smpboot/testing/fakes.hpp>

#include <cstdint>
#include <initializer_list>

using smpboot::Amd8000001EIdSource;
using smpboot::ApicId;
using smpboot::ApicRegisterIdSource;
using smpboot::Cpuid01IdSource;
using smpboot::Cpuid0BIdSource;
using smpboot::Cpuid1FIdSource;
using smpboot::CpuidChainIdSource;
using smpboot::CpuidRegs;
using smpboot::Error;
using smpboot::IdSourceKind;
using smpboot::X2Apic;
using smpboot::XApic;
using smpboot::testing::FakeCpuid;
using smpboot::testing::FakeMmio;
using smpboot::testing::FakeMmioState;
using smpboot::testing::FakeMsr;
using smpboot::testing::FakeMsrState;

namespace {

constexpr uint32_t kTopoExt = 1u << 22;  // CPUID 8000_0001h:ECX[22] TopologyExtensions

void set_max_basic(FakeCpuid& c, uint32_t max) { c.set(0, 0, CpuidRegs{.eax = max}); }
void set_max_extended(FakeCpuid& c, uint32_t max) { c.set(0x8000'0000u, 0, CpuidRegs{.eax = max}); }
// Leaf 01H with the initial APIC ID in EBX[31:24].
void set_leaf01(FakeCpuid& c, uint8_t initial_apic_id) {
  c.set(1, 0, CpuidRegs{.ebx = uint32_t{initial_apic_id} << 24 | 0x0001'0800u});
}
// Sub-leaf 0 of 0BH/1FH: SMT level, `count` logical processors, x2APIC ID in EDX.
void set_topology_subleaf0(FakeCpuid& c, uint32_t leaf, uint16_t count, uint32_t x2apic_id) {
  c.set(leaf, 0, CpuidRegs{.eax = 1, .ebx = count, .ecx = 1u << 8, .edx = x2apic_id});
}

template <class Source>
Error error_of(Source s) {
  return s.current_apic_id().error();
}

}  // namespace

static_assert(smpboot::ApicIdSource<ApicRegisterIdSource<XApic<FakeMmio>>>);
static_assert(smpboot::ApicIdSource<ApicRegisterIdSource<X2Apic<FakeMsr>>>);
static_assert(smpboot::ApicIdSource<Cpuid1FIdSource<FakeCpuid>>);
static_assert(smpboot::ApicIdSource<Cpuid0BIdSource<FakeCpuid>>);
static_assert(smpboot::ApicIdSource<Cpuid01IdSource<FakeCpuid>>);
static_assert(smpboot::ApicIdSource<Amd8000001EIdSource<FakeCpuid>>);
static_assert(smpboot::ApicIdSource<CpuidChainIdSource<FakeCpuid>>);

TEST_CASE("ApicRegisterIdSource over XApic reads ID[31:24] on every call") {
  FakeMmioState mmio;
  mmio.regs[smpboot::apic_reg::kId.xapic_offset / 4] = 17u << 24;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  ApicRegisterIdSource<XApic<FakeMmio>> source{apic};
  auto id = source.current_apic_id();
  REQUIRE(id.ok());
  CHECK(id->value == 17);
  // What the APIC answers to today: a renumbered ID is seen on the next call.
  mmio.regs[smpboot::apic_reg::kId.xapic_offset / 4] = 0x42u << 24;
  CHECK(source.current_apic_id()->value == 0x42);
  CHECK(mmio.reads == 2);
}

TEST_CASE("ApicRegisterIdSource over X2Apic reads the 32-bit ID from MSR 0x802") {
  FakeMsrState msrs;
  msrs.set(smpboot::apic_reg::kId.x2apic_msr(), 0x12345);
  X2Apic<FakeMsr> apic{FakeMsr{msrs}};
  ApicRegisterIdSource<X2Apic<FakeMsr>> source{apic};
  auto id = source.current_apic_id();
  REQUIRE(id.ok());
  CHECK(id->value == 0x12345);
}

TEST_CASE("Cpuid01IdSource: EBX[31:24] when leaf 01H exists") {
  FakeCpuid c;
  set_leaf01(c, 0xA5);
  SUBCASE("max basic leaf 0: unavailable even though the fake holds leaf 01H data") {
    set_max_basic(c, 0);
    CHECK(error_of(Cpuid01IdSource<FakeCpuid>{c}) == Error::kLeafUnavailable);
  }
  SUBCASE("max basic leaf 1") {
    set_max_basic(c, 1);
    auto id = Cpuid01IdSource<FakeCpuid>{c}.current_apic_id();
    REQUIRE(id.ok());
    CHECK(id->value == 0xA5);
  }
}

TEST_CASE("Cpuid0BIdSource and Cpuid1FIdSource: EDX of sub-leaf 0 when the leaf is valid") {
  // SDM Vol. 2A CPUID 0BH/1FH: usable if the leaf is <= the max basic leaf and
  // CPUID.(leaf, 0):EBX[15:0] != 0.
  for (uint32_t leaf : {0x0Bu, 0x1Fu}) {
    CAPTURE(leaf);
    auto current = [&](FakeCpuid& c) {
      return leaf == 0x0B ? Cpuid0BIdSource<FakeCpuid>{c}.current_apic_id()
                          : Cpuid1FIdSource<FakeCpuid>{c}.current_apic_id();
    };
    {
      INFO("max basic leaf below the leaf -> kLeafUnavailable");
      FakeCpuid c;
      set_max_basic(c, leaf - 1);
      set_topology_subleaf0(c, leaf, 2, 0x12345);
      CHECK(current(c).error() == Error::kLeafUnavailable);
    }
    {
      INFO("sub-leaf 0 EBX[15:0] == 0 -> kLeafUnavailable");
      FakeCpuid c;
      set_max_basic(c, 0x20);
      c.set(leaf, 0, CpuidRegs{.eax = 1, .ebx = 0xFFFF'0000u, .ecx = 1u << 8, .edx = 0x12345});
      CHECK(current(c).error() == Error::kLeafUnavailable);
    }
    {
      INFO("valid: the full 32-bit x2APIC ID");
      FakeCpuid c;
      set_max_basic(c, leaf);
      set_topology_subleaf0(c, leaf, 2, 0x8001'2345u);
      auto id = current(c);
      REQUIRE(id.ok());
      CHECK(id->value == 0x8001'2345u);
    }
  }
}

TEST_CASE("Amd8000001EIdSource needs the max extended leaf and 8000_0001h:ECX[22]") {
  FakeCpuid c;
  set_max_basic(c, 0x10);
  c.set(0x8000'001Eu, 0, CpuidRegs{.eax = 0x33, .ebx = 0x0100, .ecx = 0});
  SUBCASE("max extended leaf below 8000_001Eh") {
    set_max_extended(c, 0x8000'001Du);
    c.set(0x8000'0001u, 0, CpuidRegs{.ecx = kTopoExt});
    CHECK(error_of(Amd8000001EIdSource<FakeCpuid>{c}) == Error::kLeafUnavailable);
  }
  SUBCASE("no extended leaves at all (8000_0000h:EAX not 8000_xxxxh)") {
    set_max_extended(c, 0x0000'0016u);
    c.set(0x8000'0001u, 0, CpuidRegs{.ecx = kTopoExt});
    CHECK(error_of(Amd8000001EIdSource<FakeCpuid>{c}) == Error::kLeafUnavailable);
  }
  SUBCASE("leaf in range but TopologyExtensions clear") {
    set_max_extended(c, 0x8000'0020u);
    c.set(0x8000'0001u, 0, CpuidRegs{.ecx = ~kTopoExt});
    CHECK(error_of(Amd8000001EIdSource<FakeCpuid>{c}) == Error::kLeafUnavailable);
  }
  SUBCASE("both: EAX is the extended APIC ID") {
    set_max_extended(c, 0x8000'001Eu);
    c.set(0x8000'0001u, 0, CpuidRegs{.ecx = kTopoExt});
    auto id = Amd8000001EIdSource<FakeCpuid>{c}.current_apic_id();
    REQUIRE(id.ok());
    CHECK(id->value == 0x33);
  }
}

TEST_CASE("the CPUID chain prefers 1FH, then 0BH, then 01H") {
  FakeCpuid c;
  set_leaf01(c, 0x05);
  set_topology_subleaf0(c, 0x0B, 2, 0x0B0B);
  set_topology_subleaf0(c, 0x1F, 2, 0x1F1F);

  SUBCASE("all three valid -> 1FH") {
    set_max_basic(c, 0x1F);
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid1F);
    CHECK(r->id.value == 0x1F1F);
  }
  SUBCASE("1FH beyond the max basic leaf -> 0BH") {
    set_max_basic(c, 0x1E);
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid0B);
    CHECK(r->id.value == 0x0B0B);
  }
  SUBCASE("1FH in range but EBX[15:0] == 0 -> 0BH") {
    set_max_basic(c, 0x20);
    c.set(0x1F, 0, CpuidRegs{});
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid0B);
  }
  SUBCASE("neither 1FH nor 0BH valid -> 01H") {
    set_max_basic(c, 0x20);
    c.set(0x1F, 0, CpuidRegs{});
    c.set(0x0B, 0, CpuidRegs{.edx = 0x0B0B});
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid01);
    CHECK(r->id.value == 0x05);
  }
  SUBCASE("max basic leaf below 0BH -> 01H, leaf data beyond it is ignored") {
    set_max_basic(c, 0x0A);
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid01);
  }
  SUBCASE("no leaf 01H either -> kLeafUnavailable") {
    set_max_basic(c, 0);
    CHECK(smpboot::cpuid_chain_apic_id(c).error() == Error::kLeafUnavailable);
    CHECK(error_of(CpuidChainIdSource<FakeCpuid>{c}) == Error::kLeafUnavailable);
  }
  SUBCASE("8000_001Eh is not part of the chain") {
    set_max_basic(c, 0x01);
    set_max_extended(c, 0x8000'001Eu);
    c.set(0x8000'0001u, 0, CpuidRegs{.ecx = kTopoExt});
    c.set(0x8000'001Eu, 0, CpuidRegs{.eax = 0x77});
    auto r = smpboot::cpuid_chain_apic_id(c);
    REQUIRE(r.ok());
    CHECK(r->leaf == IdSourceKind::kCpuid01);
    CHECK(r->id.value == 0x05);
  }
}

TEST_CASE("CpuidChainIdSource returns the chain's ID") {
  FakeCpuid c;
  set_max_basic(c, 0x0B);
  set_leaf01(c, 0x05);
  set_topology_subleaf0(c, 0x0B, 2, 0x1234);
  auto id = CpuidChainIdSource<FakeCpuid>{c}.current_apic_id();
  REQUIRE(id.ok());
  CHECK(id->value == 0x1234);
}

TEST_CASE("AMD APU: the APIC register says 17, CPUID 01H says 1; the register source wins") {
  // Firmware renumbered the APIC IDs after reset (MADT 17/18/19); CPUID still reports the
  // initial APIC ID (SDM Vol. 3A 9.4.5: CPUID gives the *initial* APIC ID).
  FakeMmioState mmio;
  mmio.regs[smpboot::apic_reg::kId.xapic_offset / 4] = 17u << 24;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  FakeCpuid c;
  set_max_basic(c, 0x0D);
  set_leaf01(c, 1);

  ApicRegisterIdSource<XApic<FakeMmio>> by_register{apic};
  CpuidChainIdSource<FakeCpuid> by_cpuid{c};
  CHECK(by_register.current_apic_id()->value == 17);
  CHECK(by_cpuid.current_apic_id()->value == 1);
  // The default everywhere a source is chosen is the register.
  CHECK(smpboot::TrampolineSetup{}.id_source == smpboot::TrampolineIdSource::kApicRegister);
  CHECK(ApicRegisterIdSource<XApic<FakeMmio>>::kKind == IdSourceKind::kApicRegister);
}

TEST_CASE("each source names its kind") {
  CHECK(Cpuid1FIdSource<FakeCpuid>::kKind == IdSourceKind::kCpuid1F);
  CHECK(Cpuid0BIdSource<FakeCpuid>::kKind == IdSourceKind::kCpuid0B);
  CHECK(Cpuid01IdSource<FakeCpuid>::kKind == IdSourceKind::kCpuid01);
  CHECK(Amd8000001EIdSource<FakeCpuid>::kKind == IdSourceKind::kCpuid8000001E);
  CHECK(CpuidChainIdSource<FakeCpuid>::kKind == IdSourceKind::kCpuidChain);
}

namespace {
template <class View, class From>
concept BuildsFrom = requires(From& from) { View{from}; };
}  // namespace

TEST_CASE("a CPUID view reads the leaf it decodes, and only from a source") {
  // Registers alone carry no leaf, so a view cannot be built from them and paired with the
  // wrong leaf's answer.
  static_assert(!BuildsFrom<smpboot::Leaf01, CpuidRegs>);
  static_assert(BuildsFrom<smpboot::Leaf01, FakeCpuid>);
  static_assert(smpboot::Leaf01::kLeaf == 0x1 && smpboot::Leaf8000001E::kLeaf == 0x8000'001Eu);
  FakeCpuid c;
  c.set(0x1, 0, CpuidRegs{.ebx = 0x07u << 24});
  c.set(0x4, 0, CpuidRegs{.ebx = 0x09u << 24});
  c.set(0xB, 2, CpuidRegs{.edx = 0x1234});
  c.set(0x1F, 2, CpuidRegs{.edx = 0x5678});
  CHECK(smpboot::Leaf01{c}.initial_apic_id() == 0x07);
  const smpboot::TopologyLevel level0b{c, smpboot::TopologyLeaf::k0B, 2};
  const smpboot::TopologyLevel level1f{c, smpboot::TopologyLeaf::k1F, 2};
  CHECK(level0b.x2apic_id() == 0x1234);
  CHECK(level1f.x2apic_id() == 0x5678);
  CHECK(level1f.subleaf() == 2);
}
