// Topology decoding: which APIC-ID bits are the SMT, core and package IDs (Intel SDM Vol. 3A
// 9.9 "Programming Considerations for Hardware Multi-Threading Capable Processors"; Vol. 2A
// CPUID 01H/04H/0BH/1FH; AMD APM Vol. 3 appendix E, 8000_0008h and 8000_001Eh), over FakeCpuid
// tables written here for each CPU shape, including emulators that bend the rules.
#include <doctest/doctest.h>

#include <smpboot/discovery/topology.hpp>
#include <smpboot/testing/fakes.hpp>

#include <cstdint>
#include <initializer_list>
#include <cstring>

using smpboot::ApicId;
using smpboot::CpuidRegs;
using smpboot::decode_topology;
using smpboot::enumerate_topology_levels;
using smpboot::Error;
using smpboot::Topology;
using smpboot::TopologyLeaf;
using smpboot::TopologyLevels;
using smpboot::TopologySource;
using smpboot::testing::FakeCpuid;

namespace {

using Type = smpboot::TopologyLevelType;
constexpr Type kSmt = Type::kSmt, kCore = Type::kCore, kModule = Type::kModule, kDie = Type::kDie;

// Leaf 00H: max basic leaf and the 12-byte vendor string in EBX, EDX, ECX.
void set_vendor(FakeCpuid& c, const char (&vendor)[13], uint32_t max_basic_leaf) {
  CpuidRegs r{.eax = max_basic_leaf};
  std::memcpy(&r.ebx, vendor + 0, 4);
  std::memcpy(&r.edx, vendor + 4, 4);
  std::memcpy(&r.ecx, vendor + 8, 4);
  c.set(0, 0, r);
}

// One sub-leaf of 0BH/1FH: EAX[4:0] shift, EBX[15:0] count, ECX[15:8] type, ECX[7:0] level.
void set_level(FakeCpuid& c, uint32_t leaf, uint32_t sub, Type type, uint8_t shift,
               uint16_t count) {
  c.set(leaf, sub, CpuidRegs{.eax = shift, .ebx = count, .ecx = uint32_t(type) << 8 | sub, .edx = 0});
}

// Leaf 01H: EBX[23:16] max logical processor IDs, EDX[28] HTT.
void set_leaf01(FakeCpuid& c, bool htt, uint8_t max_logical) {
  c.set(1, 0, CpuidRegs{.ebx = uint32_t{max_logical} << 16, .edx = htt ? 1u << 28 : 0u});
}

// Leaf 04H sub-leaf 0: EAX[31:26] max core IDs - 1, EAX[4:0] cache type (1 = data).
void set_leaf04(FakeCpuid& c, uint32_t max_cores, uint32_t cache_type = 1) {
  c.set(4, 0, CpuidRegs{.eax = (max_cores - 1) << 26 | cache_type});
}

// AMD: 8000_0008h ECX[15:12] ApicIdCoreIdSize, ECX[7:0] NC; 8000_001Eh EBX[15:8] threads per
// compute unit - 1; 8000_0001h ECX[22] TopologyExtensions.
void set_amd(FakeCpuid& c, uint32_t max_ext, uint8_t apic_id_core_id_size, uint8_t nc,
             bool topoext, uint32_t threads_per_cu) {
  c.set(0x8000'0000u, 0, CpuidRegs{.eax = max_ext});
  c.set(0x8000'0001u, 0, CpuidRegs{.ecx = topoext ? 1u << 22 : 0u});
  c.set(0x8000'0008u, 0, CpuidRegs{.ecx = uint32_t{apic_id_core_id_size} << 12 | nc});
  c.set(0x8000'001Eu, 0, CpuidRegs{.ebx = (threads_per_cu - 1) << 8});
}

// The three fields must put the ID back together (and so never overlap).
void check_reassembles(const Topology& t, uint32_t id) {
  CAPTURE(id);
  const ApicId a{id};
  const uint64_t rebuilt = (t.package_shift >= 32 ? 0 : uint64_t{t.package_id(a)} << t.package_shift) |
                           (uint64_t{t.core_id(a)} << t.smt_shift) | t.smt_id(a);
  CHECK(rebuilt == id);
}

}  // namespace

TEST_CASE("enumerate_topology_levels lists sub-leaves until level type 0") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x1F);
  set_level(c, 0x1F, 0, kSmt, 1, 2);
  set_level(c, 0x1F, 1, kCore, 5, 32);
  set_level(c, 0x1F, 2, kDie, 7, 64);
  // Sub-leaf 3 is absent: the fake answers zeros, level type 0, the end.
  auto levels = enumerate_topology_levels(c, TopologyLeaf::k1F);
  REQUIRE(levels.ok());
  REQUIRE(levels->count == 3);
  CHECK(levels->type[0] == kSmt);
  CHECK(levels->type[1] == kCore);
  CHECK(levels->type[2] == kDie);
  CHECK(levels->shift[0] == 1);
  CHECK(levels->shift[1] == 5);
  CHECK(levels->shift[2] == 7);
}

TEST_CASE("enumerate_topology_levels: kLeafUnavailable when the leaf is not valid") {
  SUBCASE("max basic leaf below the leaf") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_level(c, 0x0B, 0, kSmt, 1, 2);
    CHECK(enumerate_topology_levels(c, TopologyLeaf::k0B).error() == Error::kLeafUnavailable);
  }
  SUBCASE("sub-leaf 0 EBX[15:0] == 0") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x1F);
    set_level(c, 0x1F, 0, kSmt, 1, 0);
    CHECK(enumerate_topology_levels(c, TopologyLeaf::k1F).error() == Error::kLeafUnavailable);
  }
}

TEST_CASE("enumeration is bounded when a CPU never reports level type 0") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x0B);
  set_level(c, 0x0B, 0, kSmt, 1, 2);
  for (uint32_t sub = 1; sub < 40; ++sub) set_level(c, 0x0B, sub, kCore, uint8_t(sub + 1), 4);
  auto levels = enumerate_topology_levels(c, TopologyLeaf::k0B);
  REQUIRE(levels.ok());
  CHECK(levels->count == TopologyLevels::kMaxLevels);
  CHECK(levels->shift[TopologyLevels::kMaxLevels - 1] == TopologyLevels::kMaxLevels);
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf0B);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == TopologyLevels::kMaxLevels);
}

TEST_CASE("decode_topology: Intel 1FH with SMT, Core and Die levels, preferred over 0BH") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x1F);
  set_level(c, 0x1F, 0, kSmt, 1, 2);
  set_level(c, 0x1F, 1, kCore, 5, 32);
  set_level(c, 0x1F, 2, kDie, 7, 96);
  set_level(c, 0x0B, 0, kSmt, 1, 2);
  set_level(c, 0x0B, 1, kCore, 7, 96);  // 0BH folds the die into the core level
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf1F);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == 7);
  for (uint32_t id : {0u, 1u, 0x21u, 0x7Fu, 0x80u, 0x1234'5678u}) check_reassembles(t, id);
}

TEST_CASE("decode_topology: 0BH with SMT shift 1 and Core shift 4") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x16);
  set_level(c, 0x0B, 0, kSmt, 1, 2);
  set_level(c, 0x0B, 1, kCore, 4, 16);
  SUBCASE("no 1FH (beyond the max basic leaf)") {}
  SUBCASE("1FH in range but EBX[15:0] == 0") {
    set_vendor(c, "GenuineIntel", 0x20);
    set_level(c, 0x1F, 0, kSmt, 1, 0);
  }
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf0B);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == 4);
}

TEST_CASE("decode_topology: Bochs-like per-level shifts (SMT 1, Core 1) keep fields disjoint") {
  // The SDM says each level's shift is cumulative; Bochs reports each level's own width.
  // The decoder takes the widest shift as the package shift, so the fields never overlap.
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x0B);
  set_level(c, 0x0B, 0, kSmt, 1, 2);
  set_level(c, 0x0B, 1, kCore, 1, 4);
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf0B);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == 1);
  for (uint32_t id = 0; id < 64; ++id) check_reassembles(t, id);
}

TEST_CASE("decode_topology: a shift that shrinks at a higher level does not narrow the package") {
  // Junk seen under emulation: the package shift is the widest seen, not the last one.
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x1F);
  set_level(c, 0x1F, 0, kSmt, 1, 2);
  set_level(c, 0x1F, 1, kCore, 4, 16);
  set_level(c, 0x1F, 2, kModule, 3, 8);
  const Topology t = decode_topology(c);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == 4);
  for (uint32_t id = 0; id < 64; ++id) check_reassembles(t, id);
}

TEST_CASE("decode_topology: a Core level first and no SMT level means no SMT bits") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x0B);
  set_level(c, 0x0B, 0, kCore, 2, 4);
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf0B);
  CHECK(t.smt_shift == 0);
  CHECK(t.package_shift == 2);
  CHECK(t.is_primary_thread(ApicId{3}));
}

TEST_CASE("decode_topology: a Module level between Core and package widens the package shift") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0x1F);
  set_level(c, 0x1F, 0, kSmt, 0, 1);
  set_level(c, 0x1F, 1, kCore, 2, 4);
  set_level(c, 0x1F, 2, kModule, 5, 32);
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kLeaf1F);
  CHECK(t.smt_shift == 0);
  CHECK(t.package_shift == 5);
}

TEST_CASE("decode_topology: Intel legacy from leaf 01H (HTT, max logical) and leaf 04H") {
  // SDM 9.9.3 (legacy leaves): package width = log2(max logical IDs); SMT width =
  // log2(max logical IDs / max core IDs).
  SUBCASE("16 logical IDs, 8 core IDs: SMT 1, package 4") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, true, 16);
    set_leaf04(c, 8);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kIntelLegacy);
    CHECK(t.smt_shift == 1);
    CHECK(t.package_shift == 4);
  }
  SUBCASE("16 logical IDs, 4 core IDs: SMT 2, package 4 (EAX[31:26] is cores - 1)") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, true, 16);
    set_leaf04(c, 4);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 2);
    CHECK(t.package_shift == 4);
  }
  SUBCASE("dual core without Hyper-Threading: 2 logical, 2 cores") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, true, 2);
    set_leaf04(c, 2);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 1);
  }
  SUBCASE("leaf 04H beyond the max basic leaf: all logical IDs are threads of one core") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x03);
    set_leaf01(c, true, 2);
    set_leaf04(c, 2);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 1);
    CHECK(t.package_shift == 1);
  }
  SUBCASE("leaf 04H with cache type 0 (null) is ignored") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, true, 4);
    set_leaf04(c, 4, /*cache_type=*/0);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 2);
    CHECK(t.package_shift == 2);
  }
  SUBCASE("no HTT: one logical processor per package, whatever EBX[23:16] says") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, false, 16);
    set_leaf04(c, 8);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kIntelLegacy);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 0);
    CHECK(t.package_id(ApicId{5}) == 5);
  }
  SUBCASE("HTT with EBX[23:16] == 0 counts as one logical processor") {
    FakeCpuid c;
    set_vendor(c, "GenuineIntel", 0x0A);
    set_leaf01(c, true, 0);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 0);
  }
}

TEST_CASE("decode_topology: AMD legacy from 8000_0008h and 8000_001Eh") {
  SUBCASE("ApicIdCoreIdSize 4, two threads per compute unit: SMT 1, package 4") {
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x0D);
    set_leaf01(c, true, 16);
    set_amd(c, 0x8000'001Eu, 4, 15, /*topoext=*/true, 2);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kAmdLegacy);
    CHECK(t.smt_shift == 1);
    CHECK(t.package_shift == 4);
  }
  SUBCASE("ApicIdCoreIdSize 0: the package width is ceil(log2(NC + 1))") {
    // APM: "If ApicIdCoreIdSize is 0, ... the legacy method (NC) determines the maximum
    // number of cores". NC = 4 means 5 cores: 3 bits (NC itself would give 2).
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x05);
    set_leaf01(c, true, 5);
    set_amd(c, 0x8000'0008u, 0, /*nc=*/4, /*topoext=*/false, 1);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kAmdLegacy);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 3);
  }
  SUBCASE("8000_001Eh ignored without TopologyExtensions") {
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x0D);
    set_leaf01(c, true, 8);
    set_amd(c, 0x8000'001Eu, 3, 7, /*topoext=*/false, 2);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 3);
  }
  SUBCASE("8000_001Eh ignored when beyond the max extended leaf") {
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x0D);
    set_leaf01(c, true, 8);
    set_amd(c, 0x8000'0018u, 3, 7, /*topoext=*/true, 2);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 0);
    CHECK(t.package_shift == 3);
  }
  SUBCASE("threads per compute unit wider than the package are clamped") {
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x0D);
    set_leaf01(c, true, 2);
    set_amd(c, 0x8000'001Eu, 1, 1, /*topoext=*/true, 8);
    const Topology t = decode_topology(c);
    CHECK(t.smt_shift == 1);
    CHECK(t.package_shift == 1);
  }
  SUBCASE("Hygon decodes like AMD") {
    FakeCpuid c;
    set_vendor(c, "HygonGenuine", 0x0D);
    set_leaf01(c, true, 16);
    set_amd(c, 0x8000'001Eu, 4, 15, /*topoext=*/true, 2);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kAmdLegacy);
    CHECK(t.smt_shift == 1);
    CHECK(t.package_shift == 4);
  }
  SUBCASE("AMD leaf 0BH still wins over the legacy leaves") {
    FakeCpuid c;
    set_vendor(c, "AuthenticAMD", 0x10);
    set_level(c, 0x0B, 0, kSmt, 1, 2);
    set_level(c, 0x0B, 1, kCore, 7, 128);
    set_amd(c, 0x8000'001Eu, 7, 127, /*topoext=*/true, 2);
    const Topology t = decode_topology(c);
    CHECK(t.source == TopologySource::kLeaf0B);
    CHECK(t.package_shift == 7);
  }
}

TEST_CASE("decode_topology: no leaf 01H gives an empty topology") {
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 0);
  const Topology t = decode_topology(c);
  CHECK(t.source == TopologySource::kNone);
  CHECK(t.smt_shift == 0);
  CHECK(t.package_shift == 0);
}

TEST_CASE("smt_id, core_id, package_id and is_primary_thread on sparse IDs") {
  SUBCASE("SMT 1, package 4 (2 threads, 8 core slots)") {
    const Topology t{TopologySource::kLeaf0B, 1, 4};
    struct Row { uint32_t id, smt, core, package; bool primary; };
    for (const Row& r : {Row{0x00, 0, 0, 0, true}, Row{0x01, 1, 0, 0, false},
                         Row{0x0E, 0, 7, 0, true}, Row{0x13, 1, 1, 1, false},
                         Row{0x35, 1, 2, 3, false}, Row{0x40, 0, 0, 4, true}}) {
      CAPTURE(r.id);
      const ApicId id{r.id};
      CHECK(t.smt_id(id) == r.smt);
      CHECK(t.core_id(id) == r.core);
      CHECK(t.package_id(id) == r.package);
      CHECK(t.is_primary_thread(id) == r.primary);
      check_reassembles(t, r.id);
    }
  }
  SUBCASE("SMT 2, package 6 on a 32-bit x2APIC ID") {
    const Topology t{TopologySource::kLeaf1F, 2, 6};
    const ApicId id{0x12345};
    CHECK(t.smt_id(id) == 1);
    CHECK(t.core_id(id) == 1);
    CHECK(t.package_id(id) == 0x48D);
    CHECK_FALSE(t.is_primary_thread(id));
    check_reassembles(t, 0xFFFF'FFFEu);
  }
  SUBCASE("no SMT bits: every thread is primary") {
    const Topology t{TopologySource::kLeaf0B, 0, 3};
    for (uint32_t id = 0; id < 16; ++id) {
      CHECK(t.is_primary_thread(ApicId{id}));
      CHECK(t.smt_id(ApicId{id}) == 0);
    }
  }
  SUBCASE("the widest 5-bit shift (31)") {
    const Topology t{TopologySource::kLeaf1F, 1, 31};
    CHECK(t.package_id(ApicId{0xFFFF'FFFFu}) == 1);
    CHECK(t.core_id(ApicId{0xFFFF'FFFFu}) == 0x3FFF'FFFFu);
    check_reassembles(t, 0xFFFF'FFFFu);
  }
}

TEST_CASE("ceil_log2 rounds up to the next power of two") {
  using smpboot::ceil_log2;
  CHECK(ceil_log2(1) == 0);
  CHECK(ceil_log2(2) == 1);
  CHECK(ceil_log2(5) == 3);
  CHECK(ceil_log2(6) == 3);
  CHECK(ceil_log2(16) == 4);
  CHECK(ceil_log2(17) == 5);
  CHECK(ceil_log2(0x8000'0000u) == 31);
  CHECK(ceil_log2(0x8000'0001u) == 32);
}

TEST_CASE("Intel legacy topology rounds max logical IDs up to a power of two first") {
  // SDM legacy method: SMT width = log2(RoundUpPow2(CPUID.1:EBX[23:16]) / max core IDs).
  // 6 logical IDs, 3 cores: 8 / 4 -> SMT width 1, package shift 3 (truncating 6 / 3 = 2 would
  // give the same here, but 6 logical with 4 cores must give width 1, not 0).
  FakeCpuid c;
  set_vendor(c, "GenuineIntel", 4);
  set_leaf01(c, true, 6);
  set_leaf04(c, 4);
  const auto t = smpboot::decode_topology(c);
  CHECK(t.source == smpboot::TopologySource::kIntelLegacy);
  CHECK(t.smt_shift == 1);
  CHECK(t.package_shift == 3);
}
