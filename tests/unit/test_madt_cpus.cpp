// add_cpus_from_madt: from MADT entries (ACPI 6.5, 5.2.12.2 / 5.2.12.12) to the CPU table, with
// the oddities real firmware has: type-0 placeholders with APIC ID 0xFF, repeated IDs among
// disabled entries, one CPU listed as both type 0 and type 9, the BSP listed late or not at
// all. Policy (docs/architecture.md): enabled entries become CPUs, first occurrence wins, the
// BSP is always CPU index 0.
#include <doctest/doctest.h>

#include <smpboot/discovery/madt_cpus.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <vector>

using smpboot::add_cpus_from_madt;
using smpboot::ApicId;
using smpboot::CpuState;
using smpboot::CpuTable;
using smpboot::Error;
using smpboot::Madt;
using smpboot::MadtCpuCensus;
using smpboot::MadtCpuEntry;
using smpboot::Topology;

namespace {

constexpr uint32_t kEnabled = 1u << 0;
constexpr uint32_t kOnlineCapable = 1u << 1;

void put_le32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// Just enough of an MADT builder for CPU entries: header, type 0/9 subtables, Length, checksum.
class Table {
 public:
  Table& lapic(uint8_t apic_id, uint32_t flags, uint8_t uid = 0) {
    std::vector<uint8_t> s{0, 8, uid, apic_id};
    put_le32(s, flags);
    body_.insert(body_.end(), s.begin(), s.end());
    return *this;
  }
  Table& x2apic(uint32_t apic_id, uint32_t flags, uint32_t uid = 0) {
    std::vector<uint8_t> s{9, 16, 0, 0};
    put_le32(s, apic_id);
    put_le32(s, flags);
    put_le32(s, uid);
    body_.insert(body_.end(), s.begin(), s.end());
    return *this;
  }
  Table& raw(std::vector<uint8_t> bytes) {
    body_.insert(body_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  // Builds the bytes (kept alive by this object) and parses them.
  Madt parse() {
    bytes_ = {'A', 'P', 'I', 'C', 0, 0, 0, 0, 5, 0};
    bytes_.resize(36, ' ');
    put_le32(bytes_, 0xFEE0'0000u);
    put_le32(bytes_, 1);
    bytes_.insert(bytes_.end(), body_.begin(), body_.end());
    const uint32_t length = uint32_t(bytes_.size());
    for (int i = 0; i < 4; ++i) bytes_[4 + i] = uint8_t(length >> (8 * i));
    uint8_t sum = 0;
    for (uint8_t b : bytes_) sum = uint8_t(sum + b);
    bytes_[9] = uint8_t(0x100 - sum);
    auto m = Madt::parse(bytes_.data(), bytes_.size());
    REQUIRE(m.ok());
    return *m;
  }

 private:
  std::vector<uint8_t> body_;
  std::vector<uint8_t> bytes_;
};

template <uint32_t N>
std::vector<uint32_t> ids_in_order(const CpuTable<N>& t) {
  std::vector<uint32_t> out;
  for (const auto& r : t) out.push_back(r.apic_id);
  return out;
}

using Ids = std::vector<uint32_t>;

}  // namespace

TEST_CASE("the BSP is CPU index 0 even when the MADT lists it later") {
  Table t;
  t.lapic(2, kEnabled).lapic(4, kEnabled).lapic(0, kEnabled).lapic(6, kEnabled);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  CHECK(ids_in_order(table) == Ids{0, 2, 4, 6});
  CHECK(c.bsp_in_madt);
  CHECK(c.enabled == 4);
  CHECK(c.added == 4);
  CHECK(c.not_added == 0);
  CHECK(c.duplicates == 0);
  CHECK(c.walk_error == Error::kNone);
  for (uint32_t i = 0; i < table.size(); ++i) {
    CHECK(table[i].index == i);
    CHECK(table[i].load_state() == CpuState::kOffline);
    CHECK(table.find(ApicId{table[i].apic_id})->value == i);
  }
}

TEST_CASE("the BSP missing from the MADT is still added, first") {
  Table t;
  t.lapic(1, kEnabled).lapic(2, kEnabled);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0x40});
  CHECK(ids_in_order(table) == Ids{0x40, 1, 2});
  CHECK_FALSE(c.bsp_in_madt);
  CHECK(c.enabled == 3);  // the BSP is an enabled CPU whether listed or not
  CHECK(c.added == 3);
}

TEST_CASE("type-0 placeholders with APIC ID 0xFF are skipped and counted") {
  Table t;
  t.lapic(0, kEnabled).lapic(0xFF, kEnabled).lapic(0xFF, 0).lapic(1, kEnabled).lapic(0xFF, 0);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  CHECK(ids_in_order(table) == Ids{0, 1});
  CHECK(c.placeholders == 3);
  CHECK(c.enabled == 2);
  CHECK(c.disabled == 0);
  CHECK(c.duplicates == 0);
}

TEST_CASE("a type-9 entry with x2APIC ID 0xFF is a real CPU, not a placeholder") {
  Table t;
  t.x2apic(0x100, kEnabled).x2apic(0xFF, kEnabled);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0x100});
  CHECK(ids_in_order(table) == Ids{0x100, 0xFF});
  CHECK(c.placeholders == 0);
  CHECK(c.enabled == 2);
}

TEST_CASE("repeated APIC IDs among disabled entries create no records") {
  SUBCASE("disabled duplicates of each other") {
    Table t;
    t.lapic(0, kEnabled).lapic(1, kEnabled).lapic(2, 0).lapic(2, 0).lapic(2, 0);
    const Madt madt = t.parse();
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
    CHECK(ids_in_order(table) == Ids{0, 1});
    CHECK(c.enabled == 2);
    CHECK(c.disabled == 3);
    CHECK(c.duplicates == 0);  // duplicates counts repeated *enabled* IDs
    CHECK(c.not_added == 0);
  }
  SUBCASE("a disabled entry listed before the enabled one with the same ID") {
    Table t;
    t.lapic(0, kEnabled).lapic(5, 0).lapic(5, kEnabled);
    const Madt madt = t.parse();
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
    CHECK(ids_in_order(table) == Ids{0, 5});
    CHECK(c.enabled == 2);
    CHECK(c.disabled == 1);
    CHECK(c.duplicates == 0);
  }
}

TEST_CASE("one CPU listed as both type 0 and type 9 gets one record") {
  Table t;
  t.lapic(0, kEnabled).lapic(3, kEnabled).x2apic(0, kEnabled).x2apic(3, kEnabled).x2apic(0x200, kEnabled);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  CHECK(ids_in_order(table) == Ids{0, 3, 0x200});
  CHECK(c.duplicates == 2);
  CHECK(c.enabled == 3);
  CHECK(c.added == 3);
}

TEST_CASE("disabled and online-capable entries are counted apart and never started") {
  Table t;
  t.lapic(0, kEnabled)
      .lapic(1, 0)
      .lapic(2, kOnlineCapable)
      .x2apic(0x300, kOnlineCapable)
      .x2apic(0x301, 0)
      .lapic(3, kEnabled | kOnlineCapable);  // ACPI says bit 1 must be 0 here: still enabled
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  CHECK(ids_in_order(table) == Ids{0, 3});
  CHECK(c.disabled == 2);
  CHECK(c.online_capable == 2);
  CHECK(c.enabled == 2);
  CHECK_FALSE(table.find(ApicId{1}).ok());
  CHECK_FALSE(table.find(ApicId{0x300}).ok());
}

TEST_CASE("max_cpus caps the records; the rest are counted as not_added") {
  Table t;
  t.lapic(0, kEnabled).lapic(1, kEnabled).lapic(2, kEnabled).lapic(3, kEnabled).lapic(4, kEnabled);
  const Madt madt = t.parse();

  SUBCASE("0 means the BSP alone") {
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{2}, 0);
    CHECK(ids_in_order(table) == Ids{2});
    CHECK(c.added == 1);
    CHECK(c.not_added == 4);
    CHECK(c.enabled == 5);
  }
  SUBCASE("1 is the BSP alone") {
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{2}, 1);
    CHECK(ids_in_order(table) == Ids{2});
    CHECK(c.not_added == 4);
  }
  SUBCASE("3: the BSP and the first two others in table order") {
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{2}, 3);
    CHECK(ids_in_order(table) == Ids{2, 0, 1});
    CHECK(c.added == 3);
    CHECK(c.not_added == 2);
  }
  SUBCASE("more than there are CPUs: all of them") {
    CpuTable<8> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{2}, 100);
    CHECK(ids_in_order(table) == Ids{2, 0, 1, 3, 4});
    CHECK(c.not_added == 0);
  }
  SUBCASE("the default is the table's capacity, and a full table counts the rest") {
    CpuTable<2> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{2});
    CHECK(ids_in_order(table) == Ids{2, 0});
    CHECK(c.added == 2);
    CHECK(c.not_added == 3);
  }
}

TEST_CASE("a malformed subtable keeps the CPUs before it and records the walk error") {
  Table t;
  t.lapic(0, kEnabled).lapic(1, kEnabled).raw({0, 0}).lapic(2, kEnabled);
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  CHECK(ids_in_order(table) == Ids{0, 1});
  CHECK(c.walk_error == Error::kMadtSubtableTooShort);
}

TEST_CASE("a 1024-CPU x2APIC MADT fills a heap-allocated table in table order") {
  Table t;
  for (uint32_t i = 0; i < 1024; ++i) t.x2apic(0x1'0000u + i * 2, kEnabled, i);
  const Madt madt = t.parse();
  auto table = std::make_unique<CpuTable<1024>>();
  const MadtCpuCensus c = add_cpus_from_madt(*table, madt, ApicId{0x1'0000u});
  CHECK(c.added == 1024);
  CHECK(c.enabled == 1024);
  CHECK(c.duplicates == 0);
  Ids want;
  for (uint32_t i = 0; i < 1024; ++i) want.push_back(0x1'0000u + i * 2);
  CHECK(ids_in_order(*table) == want);
}

namespace {

// add_cpus_from_madt is detail::add_cpus_from_entries over a Madt; this wrapper counts how many
// entries the census visits, a measure of its work that no machine load can change.
struct CountingMadt {
  const Madt& madt;
  mutable uint64_t visits = 0;
  mutable uint32_t walks = 0;

  template <class Visit>
  smpboot::Status for_each_cpu(Visit&& visit) const noexcept {
    ++walks;
    return madt.for_each_cpu([&](const MadtCpuEntry& e) {
      ++visits;
      visit(e);
    });
  }
};

Topology smt_topology(uint8_t smt_shift) {
  Topology t;
  t.smt_shift = smt_shift;
  t.package_shift = 16;
  return t;
}

}  // namespace

TEST_CASE("the census stays linear when thousands of enabled CPUs are left out") {
  // Each left-out CPU used to walk every entry before it, looking for an earlier twin:
  // 10,000 entries cost ~50 M visits. Now each walk visits each entry once, and a topology
  // adds one walk (primary threads first, then their siblings).
  constexpr uint32_t kEntries = 10'000;
  Table t;
  for (uint32_t id = 0; id < kEntries; ++id) t.x2apic(id, kEnabled, id);
  const Madt madt = t.parse();
  auto table = std::make_unique<CpuTable<1024>>();
  const Topology smt = smt_topology(1);

  struct Case {
    const char* name;
    uint32_t max_cpus;
    const Topology* topology;
    uint32_t added;
    uint32_t walks;
  };
  for (const Case& k : {Case{"max_cpus", 64, nullptr, 64, 1},
                        Case{"table capacity", 1024, nullptr, 1024, 1},
                        Case{"SMT siblings after every primary", 1024, &smt, 1024, 2},
                        Case{"SMT siblings, max_cpus", 3000, &smt, 1024, 2}}) {
    CAPTURE(k.name);
    table->clear();
    const CountingMadt counting{madt};
    const MadtCpuCensus c =
        smpboot::detail::add_cpus_from_entries(*table, counting, ApicId{0}, k.max_cpus, k.topology);
    CHECK(counting.walks == k.walks);
    CHECK(counting.visits == uint64_t{k.walks} * kEntries);
    CHECK(c.enabled == kEntries);
    CHECK(c.added == k.added);
    CHECK(c.not_added == kEntries - k.added);
    CHECK(c.duplicates == 0);
    CHECK(c.xapic_unaddressable == kEntries - 0xFF);
    // More distinct IDs left out than the set holds; no repeats, so the counts are still exact.
    CHECK(c.left_out_approximate);
    if (k.topology != nullptr) {
      for (const auto& r : *table) CHECK(smt.is_primary_thread(ApicId{r.apic_id}));
    }
  }
}

TEST_CASE("repeats of left-out CPUs are duplicates, not new CPUs") {
  // Every CPU listed as type 0 and again as type 9, and most of them left out.
  Table t;
  for (uint8_t id = 0; id < 10; ++id) t.lapic(id, kEnabled, id);
  for (uint32_t id = 0; id < 10; ++id) t.x2apic(id, kEnabled, id);
  const Madt madt = t.parse();

  SUBCASE("table capacity") {
    CpuTable<4> table;
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
    CHECK(ids_in_order(table) == Ids{0, 1, 2, 3});
    CHECK(c.enabled == 10);
    CHECK(c.added == 4);
    CHECK(c.not_added == 6);
    CHECK(c.duplicates == 10);
    CHECK_FALSE(c.left_out_approximate);
  }
  SUBCASE("SMT siblings left out by max_cpus") {
    CpuTable<16> table;
    const Topology smt = smt_topology(1);
    const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0}, 7, &smt);
    CHECK(ids_in_order(table) == Ids{0, 2, 4, 6, 8, 1, 3});
    CHECK(c.enabled == 10);
    CHECK(c.added == 7);
    CHECK(c.not_added == 3);
    CHECK(c.duplicates == 10);
  }
}

TEST_CASE("more left-out CPUs than the census tracks: the documented bounds") {
  // 8 CPUs fit; 500 distinct IDs are left out, then every ID is listed again. Repeats of the
  // first kLeftOutIdsTracked left-out IDs are caught; the other repeats count as new CPUs.
  constexpr uint32_t kDistinct = 508;
  constexpr uint32_t kLeftOut = kDistinct - 8;
  static_assert(smpboot::kLeftOutIdsTracked < kLeftOut);
  constexpr uint32_t kMissed = kLeftOut - smpboot::kLeftOutIdsTracked;
  Table t;
  for (int round = 0; round < 2; ++round) {
    for (uint32_t id = 0; id < kDistinct; ++id) t.x2apic(0x1000 + id, kEnabled, id);
  }
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0x1000});
  CHECK(c.left_out_approximate);
  CHECK(c.added == 8);
  CHECK(table.size() == 8);
  CHECK(c.enabled == kDistinct + kMissed);
  CHECK(c.not_added == kLeftOut + kMissed);
  CHECK(c.duplicates == kDistinct - kMissed);
  CHECK(c.enabled + c.duplicates == 2 * kDistinct);  // every entry is counted once either way
}

TEST_CASE("the census matches a simple model on random tables") {
  // The model: entries decided in table order (primaries and the BSP before SMT siblings when
  // a topology is given), first occurrence of an enabled ID wins, records up to max_cpus.
  std::mt19937 rng(9);
  for (int round = 0; round < 3000; ++round) {
    CAPTURE(round);
    struct Entry {
      bool x2apic;
      uint32_t id;
      uint32_t flags;
    };
    std::vector<Entry> entries(rng() % 40);
    const uint32_t id_range = 2 + rng() % 24;
    for (auto& e : entries) {
      e.x2apic = rng() % 3 == 0;
      const uint32_t r = rng() % 16;
      e.id = r == 0 ? 0xFF : r == 1 ? 0xFFFF'FFFFu : r == 2 ? 0x100 + rng() % 4 : rng() % id_range;
      if (e.id > 0xFF) e.x2apic = true;
      const uint32_t f = rng() % 8;
      e.flags = f < 5 ? kEnabled : f == 5 ? 0 : f == 6 ? kOnlineCapable : kEnabled | kOnlineCapable;
    }
    const ApicId bsp{rng() % 2 ? uint32_t(rng() % id_range) : 0x40u};
    const uint32_t max_cpus = rng() % 12;
    const uint8_t smt_shift = uint8_t(rng() % 3);
    const Topology topo = smt_topology(smt_shift);
    const bool with_topology = rng() % 2 != 0;

    Table t;
    for (const auto& e : entries) {
      if (e.x2apic) t.x2apic(e.id, e.flags); else t.lapic(uint8_t(e.id), e.flags);
    }
    const Madt madt = t.parse();
    CpuTable<8> table;
    const MadtCpuCensus c =
        add_cpus_from_madt(table, madt, bsp, max_cpus, with_topology ? &topo : nullptr);

    MadtCpuCensus want;
    Ids want_ids{bsp.value};
    std::vector<Entry> order[2];
    for (const auto& e : entries) {
      if (!e.x2apic && e.id == 0xFF) { ++want.placeholders; continue; }
      if (!(e.flags & kEnabled)) {
        ++(e.flags & kOnlineCapable ? want.online_capable : want.disabled);
        continue;
      }
      const bool sibling = with_topology && smt_shift > 0 && e.id != bsp.value &&
                           !topo.is_primary_thread(ApicId{e.id});
      order[sibling].push_back(e);
    }
    std::set<uint32_t> seen;
    for (const auto& pass : order) {
      for (const auto& e : pass) {
        if (!seen.insert(e.id).second) { ++want.duplicates; continue; }
        if (e.id == bsp.value) { want.bsp_in_madt = true; continue; }
        if (want_ids.size() < std::min(std::max(max_cpus, 1u), 8u) && e.id != 0xFFFF'FFFFu) {
          want_ids.push_back(e.id);
        } else {
          ++want.not_added;
        }
      }
    }
    seen.insert(bsp.value);
    want.enabled = uint32_t(seen.size());
    want.xapic_unaddressable = uint32_t(std::count_if(seen.begin(), seen.end(), [](uint32_t id) { return id > 0xFE; }));

    CHECK(ids_in_order(table) == want_ids);
    CHECK(c.added == want_ids.size());
    CHECK(c.enabled == want.enabled);
    CHECK(c.not_added == want.not_added);
    CHECK(c.duplicates == want.duplicates);
    CHECK(c.placeholders == want.placeholders);
    CHECK(c.disabled == want.disabled);
    CHECK(c.online_capable == want.online_capable);
    CHECK(c.bsp_in_madt == want.bsp_in_madt);
    CHECK(c.xapic_unaddressable == want.xapic_unaddressable);
    CHECK_FALSE(c.left_out_approximate);
  }
}

// Issue 14, item 1: the record keeps what a kernel needs of the entry that made it a CPU, so
// it never walks the MADT again with rules of its own (local NMI entries are routed by UID).
TEST_CASE("each record keeps the ACPI UID, type and flags of the entry that made it a CPU") {
  Table t;
  t.lapic(2, kEnabled, 7)                      // an AP
      .lapic(0, kEnabled, 3)                   // the BSP, listed second
      .lapic(4, 0, 9)                          // disabled: no record
      .x2apic(0x100, kEnabled, 0x1234'5678u)   // only x2APIC reaches it: 32-bit UID
      .x2apic(2, kEnabled, 99)                 // the type-9 twin of APIC ID 2: first one wins
      .lapic(6, kEnabled | kOnlineCapable, 11);  // bits beyond enabled are kept as given
  const Madt madt = t.parse();
  CpuTable<8> table;
  const MadtCpuCensus c = add_cpus_from_madt(table, madt, ApicId{0});
  REQUIRE(ids_in_order(table) == Ids{0, 2, 0x100, 6});
  CHECK(c.duplicates == 1);
  struct Want { uint32_t uid; uint8_t type; uint8_t flags; };
  const Want want[] = {{3, 0, 1}, {7, 0, 1}, {0x1234'5678u, 9, 1}, {11, 0, 3}};
  for (uint32_t i = 0; i < table.size(); ++i) {
    INFO("cpu ", i);
    CHECK(table[i].has_madt_entry());
    CHECK(table[i].uid() == smpboot::AcpiUid{want[i].uid});
    CHECK(table[i].madt_type == want[i].type);
    CHECK(table[i].madt_flags == want[i].flags);
  }
}

TEST_CASE("a BSP the MADT does not list has no entry and an unknown UID") {
  Table t;
  t.lapic(1, kEnabled, 1);
  const Madt madt = t.parse();
  CpuTable<4> table;
  (void)add_cpus_from_madt(table, madt, ApicId{0x40});
  REQUIRE(table.size() == 2);
  CHECK_FALSE(table[0].has_madt_entry());
  CHECK(table[0].acpi_uid == smpboot::CpuRecord::kUnknownAcpiUid);
  CHECK(table[1].uid() == smpboot::AcpiUid{1});
  // A record added by hand (not from the MADT) says so too.
  CpuTable<4> by_hand;
  REQUIRE(by_hand.add(ApicId{5}).ok());
  CHECK_FALSE(by_hand[0].has_madt_entry());
}
