// The assembled trampoline as the BSP sees it: its parameter block carries this build's magic,
// layout version and size; install_trampoline relocates it for its page and fills the table
// pointers; and a blob from another layout version is refused before anyone is woken.
#include <doctest/doctest.h>

#include <smpboot/boot/trampoline.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

using namespace smpboot;

namespace {
std::vector<uint8_t> blob() {
  std::ifstream in(SMPBOOT_TRAMPOLINE_BIN, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
TrampolineParams params_at(const uint8_t* page) {
  TrampolineParams p{};
  std::memcpy(&p, page + kTrampolineParamsOffset, kTrampolineParamsBytes);
  return p;
}
}  // namespace

TEST_CASE("the assembled trampoline matches the C++ layout and fits one page") {
  const auto b = blob();
  REQUIRE(b.size() > kTrampolineParamsOffset + kTrampolineParamsBytes);
  CHECK(b.size() <= kTrampolineMaxSize);
  CHECK(b[0] == 0xE9);  // jmp near over the parameter block
  auto p = read_trampoline_params(b.data(), b.size());
  REQUIRE(p.ok());
  CHECK(p->magic == kTrampolineMagic);
  CHECK(p->layout_version == kBootLayoutVersion);
  CHECK(p->blob_size == b.size());
  CHECK(p->pm32_selector == 0x08);
  CHECK(p->lm64_selector == 0x18);
  CHECK(p->gdt_limit == 4 * 8 - 1);
  CHECK(p->pm32_offset < b.size());
  CHECK(p->lm64_offset < b.size());
  CHECK(p->gdt_offset + 32 <= b.size());
  // The blob's GDT: null, 32-bit code, data, 64-bit code (L bit 53 set).
  uint64_t gdt[4];
  std::memcpy(gdt, b.data() + p->gdt_offset, sizeof gdt);
  CHECK(gdt[0] == 0);
  CHECK((gdt[3] >> 53 & 1) == 1);
}

TEST_CASE("install_trampoline relocates the blob for its page and fills the parameters") {
  const auto b = blob();
  auto table = std::make_unique<CpuTable<64>>();
  REQUIRE(table->add(ApicId{0}).ok());
  std::vector<uint8_t> page(4096, 0xEE);
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  setup.x2apic = true;
  setup.id_source = TrampolineIdSource::kCpuidChain;
  auto start = install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table);
  REQUIRE(start.ok());
  CHECK(start->vector() == 0x08);
  const auto orig = params_at(b.data());
  const auto p = params_at(page.data());
  CHECK(p.page_phys == 0x8000);
  CHECK(p.cr3 == 0x1000);
  CHECK(p.flags == (kTrampolineX2Apic | kTrampolineNxe));
  CHECK(p.id_source == uint32_t(TrampolineIdSource::kCpuidChain));
  CHECK(p.slot_bits == CpuTable<64>::kSlotBits);
  CHECK(p.slots == reinterpret_cast<uint64_t>(table->slots()));
  CHECK(p.records == reinterpret_cast<uint64_t>(table->records()));
  CHECK(p.record_size == sizeof(CpuRecord));
  CHECK(p.pm32_offset == orig.pm32_offset + 0x8000);
  CHECK(p.lm64_offset == orig.lm64_offset + 0x8000);
  CHECK(p.gdt_offset == orig.gdt_offset + 0x8000);
  // Code bytes outside the parameter block are copied unchanged.
  CHECK(std::memcmp(page.data() + 200, b.data() + 200, b.size() - 200) == 0);
}

TEST_CASE("a blob from another layout, or a bad page or CR3, is refused") {
  auto b = blob();
  auto table = std::make_unique<CpuTable<4>>();
  std::vector<uint8_t> page(4096);
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  SUBCASE("layout version") {
    b[kTrampolineParamsOffset + 4] ^= 0xFF;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("magic") {
    b[kTrampolineParamsOffset] ^= 0xFF;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("truncated blob") {
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size() - 1, setup, *table).error() ==
          Error::kLayoutMismatch);
  }
  SUBCASE("start page above 1 MiB") {
    CHECK(install_trampoline(page.data(), 0x100000, b.data(), b.size(), setup, *table).error() ==
          Error::kInvalidStartPage);
  }
  SUBCASE("no page tables") {
    setup.cr3 = 0;
    CHECK(install_trampoline(page.data(), 0x8000, b.data(), b.size(), setup, *table).error() ==
          Error::kLayoutMismatch);
  }
}
