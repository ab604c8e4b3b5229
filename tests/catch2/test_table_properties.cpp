// Property tests of the CPU table's APIC-ID index: whatever the ID pattern and fill level,
// every added ID is found at its own index and no absent ID is found.
#include <catch2/catch.hpp>

#include <smpboot/percpu/cpu_table.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <set>

using smpboot::ApicId;
using smpboot::CpuTable;

TEST_CASE("every added APIC ID is found at its own index", "[table][property]") {
  const uint32_t count = GENERATE(1u, 2u, 63u, 255u, 1024u, 4096u);
  const uint32_t pattern = GENERATE(0u, 1u, 2u);  // dense, strided (SMT gaps), random 32-bit
  auto table = std::make_unique<CpuTable<4096>>();
  std::mt19937 rng(count * 7 + pattern);
  std::set<uint32_t> ids;
  while (ids.size() < count) {
    const uint32_t n = uint32_t(ids.size());
    uint32_t id = pattern == 0 ? n : pattern == 1 ? n * 4 + 1 : uint32_t(rng());
    if (id == 0xFFFF'FFFFu) continue;
    ids.insert(id);
  }
  uint32_t expected_index = 0;
  for (uint32_t id : ids) {
    auto added = table->add(ApicId{id});
    REQUIRE(added.ok());
    REQUIRE(added->value == expected_index++);
  }
  uint32_t index = 0;
  for (uint32_t id : ids) {
    auto found = table->find(ApicId{id});
    REQUIRE(found.ok());
    CHECK(found->value == index++);
  }
  for (int probe = 0; probe < 1000; ++probe) {
    const uint32_t id = uint32_t(rng());
    if (ids.count(id) || id == 0xFFFF'FFFFu) continue;
    CHECK_FALSE(table->find(ApicId{id}).ok());
  }
}
