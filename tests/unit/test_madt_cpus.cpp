// add_cpus_from_madt: from MADT entries (ACPI 6.5, 5.2.12.2 / 5.2.12.12) to the CPU table, with
// the oddities real firmware has: type-0 placeholders with APIC ID 0xFF, repeated IDs among
// disabled entries, one CPU listed as both type 0 and type 9, the BSP listed late or not at
// all. Policy (docs/architecture.md): enabled entries become CPUs, first occurrence wins, the
// BSP is always CPU index 0.
#include <doctest/doctest.h>

#include <smpboot/discovery/madt_cpus.hpp>

#include <cstdint>
#include <memory>
#include <vector>

using smpboot::add_cpus_from_madt;
using smpboot::ApicId;
using smpboot::CpuState;
using smpboot::CpuTable;
using smpboot::Error;
using smpboot::Madt;
using smpboot::MadtCpuCensus;

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
  // add_cpus_from_madt rescans earlier entries for each one (no extra storage), so this is
  // quadratic; 1024 entries keep it fast under the sanitizers.
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
