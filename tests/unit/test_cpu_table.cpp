// CpuTable: fixed-capacity CPU records and the open-addressing APIC ID -> CPU index map that
// the trampoline also probes in asm (percpu/cpu_table.hpp, asm/trampoline.asm). Large tables
// live on the heap: CpuTable<4096> is over half a megabyte.
#include <doctest/doctest.h>

#include <smpboot/percpu/cpu_table.hpp>

#include <cstdint>
#include <cstring>
#include <new>
#include <memory>
#include <random>
#include <set>
#include <vector>

using smpboot::ApicId;
using smpboot::CpuIndex;
using smpboot::CpuState;
using smpboot::CpuTable;
using smpboot::Error;
using smpboot::MemoryOrder;
namespace apic_index = smpboot::apic_index;

namespace {

// The lookup exactly as asm/trampoline.asm does it: park on the ID 0xFFFFFFFF, home slot by a
// 32-bit multiply and a right shift, then probe: stop at a slot whose high dword is 0 (empty),
// else match the low dword against the ID, step with wrap-around, at most one pass over all
// slots; the index is the high dword minus the bias. Returns the CPU index or -1.
int64_t asm_lookup(const uint64_t* slots, uint32_t slot_bits, uint32_t apic_id) {
  if (apic_id == 0xFFFF'FFFFu) return -1;
  const uint32_t slot_count = 1u << slot_bits;
  const uint32_t mask = slot_count - 1;
  uint32_t slot = uint32_t(apic_id * apic_index::kHashMultiplier) >> (32 - slot_bits);
  for (uint32_t budget = slot_count; budget != 0; --budget) {
    const uint64_t entry = slots[slot];
    if (uint32_t(entry >> 32) == 0) return -1;
    if (uint32_t(entry) == apic_id) return int64_t(uint32_t(entry >> 32) - apic_index::kIndexBias);
    slot = (slot + 1) & mask;
  }
  return -1;
}

int64_t find_as_int(const auto& table, uint32_t id) {
  auto r = table.find(ApicId{id});
  return r.ok() ? int64_t(r->value) : -1;
}

template <uint32_t N>
uint32_t occupied_slots(const CpuTable<N>& t) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < CpuTable<N>::kSlotCount; ++i) n += t.slots()[i] != apic_index::kEmptySlot;
  return n;
}

// IDs whose home slot is `slot` in a table of 2^bits slots, smallest first.
std::vector<uint32_t> ids_with_home(uint32_t slot, uint32_t bits, size_t how_many) {
  std::vector<uint32_t> out;
  for (uint32_t id = 0; out.size() < how_many; ++id) {
    if (apic_index::home_slot(id, bits) == slot) out.push_back(id);
  }
  return out;
}

}  // namespace

TEST_CASE("slot arrays are a power of two at least twice the capacity") {
  CHECK(CpuTable<1>::kSlotCount == 2);
  CHECK(CpuTable<4>::kSlotBits == 3);
  CHECK(CpuTable<4>::kSlotCount == 8);
  CHECK(CpuTable<5>::kSlotCount == 16);
  CHECK(CpuTable<64>::kSlotBits == 7);
  CHECK(CpuTable<64>::kSlotCount == 128);
  CHECK(CpuTable<4096>::kSlotBits == 13);
  CHECK(CpuTable<4096>::kSlotCount == 8192);
}

TEST_CASE("home_slot is Fibonacci hashing: (id * 0x9E3779B1 mod 2^32) >> (32 - bits)") {
  CHECK(apic_index::home_slot(0, 3) == 0);
  CHECK(apic_index::home_slot(1, 3) == 4);  // 0x9E3779B1 >> 29
  CHECK(apic_index::home_slot(1, 13) == (0x9E37'79B1u >> 19));
  CHECK(apic_index::home_slot(2, 13) == (0x3C6E'F362u >> 19));  // the product wraps at 2^32
  for (uint32_t id : {0u, 7u, 0x10000u, 0xFFFF'FFFEu}) {
    CHECK(apic_index::home_slot(id, 3) < 8);
    CHECK(apic_index::home_slot(id, 13) < 8192);
  }
}

TEST_CASE("a new table is empty") {
  CpuTable<4> t;
  CHECK(t.size() == 0);
  CHECK(t.begin() == t.end());
  CHECK(occupied_slots(t) == 0);
  CHECK(t.find(ApicId{0}).error() == Error::kApicIdNotInTable);
  CHECK(t.record(CpuIndex{0}) == nullptr);
}

TEST_CASE("add then find: dense, sparse and large 32-bit IDs") {
  const std::vector<std::vector<uint32_t>> patterns = {
      {0, 1, 2, 3},                                        // dense
      {0, 2, 4, 6},                                        // SMT siblings offline
      {1, 17, 33, 0xFE},                                   // sparse xAPIC
      {0x0001'0000u, 0x8000'0000u, 0xFFFF'FFFEu, 0xFFu},   // large x2APIC
  };
  for (const auto& ids : patterns) {
    CAPTURE(ids[0]);
    CAPTURE(ids[3]);
    CpuTable<4> t;
    for (uint32_t i = 0; i < ids.size(); ++i) {
      auto added = t.add(ApicId{ids[i]});
      REQUIRE(added.ok());
      CHECK(added->value == i);
    }
    CHECK(t.size() == 4);
    CHECK(occupied_slots(t) == 4);
    for (uint32_t i = 0; i < ids.size(); ++i) {
      CAPTURE(ids[i]);
      auto found = t.find(ApicId{ids[i]});
      REQUIRE(found.ok());
      CHECK(found->value == i);
      CHECK(t[i].apic_id == ids[i]);
      CHECK(t[i].index == i);
      CHECK(t[i].load_state() == CpuState::kOffline);
      CHECK(t.find_record(ApicId{ids[i]}) == &t[i]);
      CHECK(t.record(CpuIndex{i}) == &t[i]);
    }
  }
}

TEST_CASE("each slot holds the APIC ID in its low dword and the CPU index + 1 in its high dword") {
  CpuTable<64> t;
  const uint32_t ids[] = {5, 0x0001'0000u, 0xFFFF'FFFEu};
  for (uint32_t id : ids) REQUIRE(t.add(ApicId{id}).ok());
  std::set<uint64_t> want = {5ull | 1ull << 32, 0x0001'0000ull | 2ull << 32,
                             0xFFFF'FFFEull | 3ull << 32};
  std::set<uint64_t> got;
  for (uint32_t s = 0; s < CpuTable<64>::kSlotCount; ++s) {
    if (t.slots()[s] != apic_index::kEmptySlot) got.insert(t.slots()[s]);
  }
  CHECK(got == want);
}

TEST_CASE("duplicates are refused with kDuplicateApicId") {
  CpuTable<4> t;
  REQUIRE(t.add(ApicId{7}).ok());
  CHECK(t.add(ApicId{7}).error() == Error::kDuplicateApicId);
  CHECK(t.size() == 1);
  CHECK(occupied_slots(t) == 1);
}

TEST_CASE("the x2APIC broadcast ID 0xFFFFFFFF is refused and never found") {
  // SDM 11.12.9: FFFF_FFFFH is broadcast, never a CPU (and a junk ID read returns it).
  CpuTable<4> t;
  CHECK_FALSE(t.add(ApicId{0xFFFF'FFFFu}).ok());
  CHECK(t.size() == 0);
  CHECK(occupied_slots(t) == 0);
  REQUIRE(t.add(ApicId{0}).ok());
  CHECK(t.find(ApicId{0xFFFF'FFFFu}).error() == Error::kApicIdNotInTable);
  CHECK(asm_lookup(t.slots(), CpuTable<4>::kSlotBits, 0xFFFF'FFFFu) == -1);
}

TEST_CASE("0xFF is an ordinary ID in the table (a real CPU in x2APIC mode)") {
  CpuTable<4> t;
  auto added = t.add(ApicId{0xFF});
  REQUIRE(added.ok());
  CHECK(t.find(ApicId{0xFF})->value == added->value);
}

TEST_CASE("a full table refuses more with kTableFull, but still finds what it has") {
  CpuTable<4> t;
  for (uint32_t id : {10u, 20u, 30u, 40u}) REQUIRE(t.add(ApicId{id}).ok());
  CHECK(t.add(ApicId{50}).error() == Error::kTableFull);
  CHECK(t.add(ApicId{10}).error() == Error::kDuplicateApicId);
  CHECK(t.size() == 4);
  CHECK(t.find(ApicId{40})->value == 3);
  CHECK(t.find(ApicId{50}).error() == Error::kApicIdNotInTable);
}

TEST_CASE("find of an absent ID gives kApicIdNotInTable") {
  CpuTable<64> t;
  for (uint32_t id = 0; id < 64; id += 2) REQUIRE(t.add(ApicId{id}).ok());
  for (uint32_t id = 1; id < 64; id += 2) {
    CAPTURE(id);
    CHECK(t.find(ApicId{id}).error() == Error::kApicIdNotInTable);
    CHECK(t.find_record(ApicId{id}) == nullptr);
  }
  CHECK(t.find(ApicId{0x1234'5678u}).error() == Error::kApicIdNotInTable);
}

TEST_CASE("colliding IDs probe linearly and wrap from the last slot to slot 0") {
  constexpr uint32_t kBits = CpuTable<4>::kSlotBits;
  constexpr uint32_t kLast = CpuTable<4>::kSlotCount - 1;
  const auto ids = ids_with_home(kLast, kBits, 3);
  CpuTable<4> t;
  for (uint32_t id : ids) REQUIRE(t.add(ApicId{id}).ok());
  CHECK(uint32_t(t.slots()[kLast]) == ids[0]);
  CHECK(uint32_t(t.slots()[0]) == ids[1]);
  CHECK(uint32_t(t.slots()[1]) == ids[2]);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(t.find(ApicId{ids[i]})->value == i);
    CHECK(asm_lookup(t.slots(), kBits, ids[i]) == i);
  }
  // An absent ID with the same home slot walks the whole run and stops at the empty slot.
  const auto more = ids_with_home(kLast, kBits, 4);
  CHECK(t.find(ApicId{more[3]}).error() == Error::kApicIdNotInTable);
  CHECK(asm_lookup(t.slots(), kBits, more[3]) == -1);
}

TEST_CASE("the asm lookup agrees with find() for all 4096 entries of a full CpuTable<4096>") {
  auto t = std::make_unique<CpuTable<4096>>();
  std::mt19937 rng(4096);
  std::set<uint32_t> ids;
  // Dense low IDs, SMT-strided IDs, and random 32-bit IDs.
  for (uint32_t i = 0; i < 1024; ++i) ids.insert(i);
  for (uint32_t i = 0; i < 1024; ++i) ids.insert(0x1'0000u + 4 * i + 1);
  while (ids.size() < 4096) {
    const uint32_t id = uint32_t(rng());
    if (id != 0xFFFF'FFFFu) ids.insert(id);
  }
  ids.erase(ids.begin());
  ids.insert(0xFFFF'FFFEu);
  REQUIRE(ids.size() == 4096);
  for (uint32_t id : ids) REQUIRE(t->add(ApicId{id}).ok());
  CHECK(t->add(ApicId{0x4242'4242u}).error() == Error::kTableFull);
  CHECK(occupied_slots(*t) == 4096);

  uint32_t agree = 0;
  uint32_t index = 0;
  for (uint32_t id : ids) {
    const int64_t by_find = find_as_int(*t, id);
    const int64_t by_asm = asm_lookup(t->slots(), CpuTable<4096>::kSlotBits, id);
    agree += by_find == by_asm && by_find == index && (*t)[index].apic_id == id;
    ++index;
  }
  CHECK(agree == 4096);

  uint32_t absent_agree = 0, absent = 0;
  for (int i = 0; i < 4096; ++i) {
    const uint32_t id = uint32_t(rng());
    if (ids.count(id) || id == 0xFFFF'FFFFu) continue;
    ++absent;
    absent_agree += find_as_int(*t, id) == -1 && asm_lookup(t->slots(), 13, id) == -1;
  }
  CHECK(absent_agree == absent);
}

TEST_CASE("count_in counts records by state") {
  CpuTable<64> t;
  for (uint32_t id = 0; id < 10; ++id) REQUIRE(t.add(ApicId{id}).ok());
  CHECK(t.count_in(CpuState::kOffline) == 10);
  for (uint32_t i = 1; i < 4; ++i) REQUIRE(t[i].transition(CpuState::kOffline, CpuState::kWakeSent).ok());
  REQUIRE(t[3].transition(CpuState::kWakeSent, CpuState::kFailed).ok());
  CHECK(t.count_in(CpuState::kOffline) == 7);
  CHECK(t.count_in(CpuState::kWakeSent) == 2);
  CHECK(t.count_in(CpuState::kFailed) == 1);
  CHECK(t.count_in(CpuState::kOnline) == 0);
}

TEST_CASE("records are 64-byte aligned in the table, and clear() empties the index") {
  auto t = std::make_unique<CpuTable<64>>();
  for (uint32_t id = 0; id < 64; ++id) REQUIRE(t->add(ApicId{id * 3}).ok());
  for (uint32_t i = 0; i < 64; ++i) {
    CHECK(reinterpret_cast<uintptr_t>(&(*t)[i]) % 64 == 0);
  }
  CHECK(t->record(CpuIndex{64}) == nullptr);
  t->clear();
  CHECK(t->size() == 0);
  CHECK(occupied_slots(*t) == 0);
  CHECK(t->find(ApicId{3}).error() == Error::kApicIdNotInTable);
  CHECK(t->add(ApicId{3})->value == 0);
}

// --- A zero-filled table is a valid empty one (it lands in .bss) ---------------------------

namespace {

// The way a kernel declares its table. Static storage that is constant-initialized to all
// zero bytes goes to .bss; with any non-zero byte the whole object would be in .data.
constinit CpuTable<256> g_bss_table;

}  // namespace

// Both linkers (GNU ld, lld) define these around the zero-filled data of an ELF executable.
extern "C" char __bss_start[];
extern "C" char _end[];

TEST_CASE("every byte a default-constructed CpuTable writes is zero") {
  // Built twice over two different fillings: a byte that differs afterwards is padding the
  // constructor never wrote (zero anyway in .bss); every other byte must be zero.
  using Table = CpuTable<256>;
  alignas(Table) static unsigned char a[sizeof(Table)], b[sizeof(Table)];
  std::memset(a, 0xA5, sizeof a);
  std::memset(b, 0x5A, sizeof b);
  new (a) Table;
  new (b) Table;
  size_t written = 0, nonzero = 0;
  for (size_t i = 0; i < sizeof(Table); ++i) {
    if (a[i] != b[i]) continue;
    ++written;
    nonzero += a[i] != 0;
  }
  CHECK(written > sizeof(Table) / 2);
  CHECK(nonzero == 0);
}

TEST_CASE("a constinit CpuTable<256> is in .bss, not .data") {
  const auto at = reinterpret_cast<uintptr_t>(&g_bss_table);
  CHECK(at >= reinterpret_cast<uintptr_t>(__bss_start));
  CHECK(at + sizeof g_bss_table <= reinterpret_cast<uintptr_t>(_end));
}

TEST_CASE("a table that is only zeroed memory finds nothing, then works like any other") {
  // What a kernel's .bss gives it: no constructor has run over these bytes.
  using Table = CpuTable<8>;
  alignas(Table) static unsigned char storage[sizeof(Table)];
  std::memset(storage, 0, sizeof storage);
  auto& t = *reinterpret_cast<Table*>(storage);
  REQUIRE(t.size() == 0);
  REQUIRE(occupied_slots(t) == 0);  // else add() below would probe forever for an empty slot
  for (uint32_t id : {0u, 1u, 0xFFu, 0xFFFF'FFFFu}) {
    CAPTURE(id);
    CHECK(t.find(ApicId{id}).error() == Error::kApicIdNotInTable);
    CHECK(asm_lookup(t.slots(), Table::kSlotBits, id) == -1);
  }
  // ID 0 matches the ID half of every empty slot: it must still be found only once added.
  REQUIRE(t.add(ApicId{3}).ok());
  CHECK(t.find(ApicId{0}).error() == Error::kApicIdNotInTable);
  CHECK(asm_lookup(t.slots(), Table::kSlotBits, 0) == -1);
  REQUIRE(t.add(ApicId{0}).ok());
  CHECK(t.find(ApicId{0})->value == 1);
  CHECK(asm_lookup(t.slots(), Table::kSlotBits, 0) == 1);
  CHECK(t.find(ApicId{3})->value == 0);
  CHECK(t[1].load_state() == CpuState::kOffline);
  CHECK(t.add(ApicId{0xFFFF'FFFFu}).error() == Error::kApicIdNotInTable);

  REQUIRE(g_bss_table.add(ApicId{0}).ok());
  CHECK(g_bss_table.find(ApicId{0})->value == 0);
  g_bss_table.clear();
}
