// Choosing the SIPI start page from a memory map (boot/sipi_page.hpp): the real maps of SeaBIOS
// (QEMU pc and q35 at 32 MiB, 256 MiB and 6 GiB) and Bochs' BIOS captured at boot through
// Multiboot 1 (tests/data/memmap/, README.md there), and synthetic maps: no free page, usable
// overlapping reserved (reserved wins), unsorted entries, zero-length entries, RAM split at
// odd boundaries, the kernel's own ranges, the EBDA from the BDA word or assumed.
#include <doctest/doctest.h>

#include <smpboot/boot/sipi_page.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using smpboot::choose_sipi_page;
using smpboot::Error;
using smpboot::MemoryRange;
using smpboot::MemoryType;
using smpboot::PhysRange;
using smpboot::SipiPagePreference;
namespace fs = std::filesystem;

namespace {

uint64_t choose(const std::vector<MemoryRange>& map, const std::vector<PhysRange>& own = {},
                uint16_t ebda = 0, SipiPagePreference pref = SipiPagePreference::kHighest) {
  auto page = choose_sipi_page(map.data(), map.size(), own.data(), own.size(), ebda, pref);
  return page ? page->phys_addr() : ~uint64_t{0};
}
Error choose_error(const std::vector<MemoryRange>& map, const std::vector<PhysRange>& own = {},
                   uint16_t ebda = 0) {
  return choose_sipi_page(map.data(), map.size(), own.data(), own.size(), ebda).error();
}

constexpr MemoryType kUsable = MemoryType::kUsable;
constexpr MemoryType kReserved = MemoryType::kReserved;

// The SeaBIOS map below 1 MiB (identical at every RAM size captured).
const std::vector<MemoryRange> kSeaBiosLow = {
    {0x0, 0x9FC00, kUsable},
    {0x9FC00, 0x400, kReserved},
    {0xF0000, 0x10000, kReserved},
    {0x100000, 0x1EE0000, kUsable},
};

}  // namespace

TEST_CASE("memory_type_from_e820: ACPI 6.5 Table 15.1, unknown types reserved") {
  CHECK(smpboot::memory_type_from_e820(1) == MemoryType::kUsable);
  CHECK(smpboot::memory_type_from_e820(2) == MemoryType::kReserved);
  CHECK(smpboot::memory_type_from_e820(3) == MemoryType::kAcpiReclaimable);
  CHECK(smpboot::memory_type_from_e820(4) == MemoryType::kAcpiNvs);
  CHECK(smpboot::memory_type_from_e820(5) == MemoryType::kBad);
  for (uint32_t t : {0u, 6u, 7u, 12u, 0xF0000000u, 0xFFFFFFFFu}) {
    CHECK(smpboot::memory_type_from_e820(t) == MemoryType::kReserved);
  }
}

TEST_CASE("the highest free page below the EBDA, or the lowest above page 0") {
  CHECK(choose(kSeaBiosLow) == 0x9E000);            // EBDA unknown: 0x9F000 and up avoided
  CHECK(choose(kSeaBiosLow, {}, 0x9FC0) == 0x9E000);
  CHECK(choose(kSeaBiosLow, {}, 0x9FC0, SipiPagePreference::kLowest) == 0x1000);  // not page 0
  // A lower EBDA (BDA word 0x9000 -> 0x90000) moves the ceiling down.
  CHECK(choose(kSeaBiosLow, {}, 0x9000) == 0x8F000);
  CHECK(choose(kSeaBiosLow, {}, 0x9080) == 0x8F000);  // EBDA mid-page: its page is avoided
  // A BDA word pointing into the BDA itself or into the legacy hole is not believed.
  CHECK(choose(kSeaBiosLow, {}, 0x0040) == 0x9E000);
  CHECK(choose(kSeaBiosLow, {}, 0xA000) == 0x9E000);
  // Usable RAM all the way to 0xA0000 still never yields 0x9F000 or above without an EBDA.
  CHECK(choose({{0, 0x100000, kUsable}}) == 0x9E000);
  // Every result is a legal STARTUP vector.
  auto page = choose_sipi_page(kSeaBiosLow.data(), kSeaBiosLow.size(), nullptr, 0);
  REQUIRE(page.ok());
  CHECK(page->vector() == 0x9E);
}

TEST_CASE("the kernel's own ranges are avoided") {
  CHECK(choose(kSeaBiosLow, {{0x9E000, 0x1000}}) == 0x9D000);
  CHECK(choose(kSeaBiosLow, {{0x9DFFF, 1}}) == 0x9E000);       // ends before the page
  CHECK(choose(kSeaBiosLow, {{0x9DFFF, 2}}) == 0x9C000);       // one byte into 0x9E000
  CHECK(choose(kSeaBiosLow, {{0x9E000, 0}}) == 0x9E000);       // zero length: nothing
  CHECK(choose(kSeaBiosLow, {{0x1000, 0x9D000}}) == 0x9E000);  // all but the top page
  CHECK(choose(kSeaBiosLow, {{0x9000, 0x1000}}, 0, SipiPagePreference::kLowest) == 0x1000);
  CHECK(choose(kSeaBiosLow, {{0x0, 0x2000}}, 0, SipiPagePreference::kLowest) == 0x2000);
  CHECK(choose(kSeaBiosLow, {{0x1000, ~uint64_t{0}}}) == ~uint64_t{0});  // length overflows
}

TEST_CASE("no page free: kNoSipiPage") {
  CHECK(choose_error({}) == Error::kNoSipiPage);
  CHECK(choose_sipi_page(nullptr, 5, nullptr, 3).error() == Error::kNoSipiPage);
  CHECK(choose_error({{0x100000, 0x10000000, kUsable}}) == Error::kNoSipiPage);  // RAM above 1 MiB
  CHECK(choose_error({{0x0, 0x1000, kUsable}}) == Error::kNoSipiPage);           // page 0 only
  CHECK(choose_error({{0x9F000, 0x1000, kUsable}}) == Error::kNoSipiPage);       // EBDA page only
  CHECK(choose_error({{0xA0000, 0x60000, kUsable}}) == Error::kNoSipiPage);      // legacy hole
  CHECK(choose_error(kSeaBiosLow, {{0x1000, 0x9E000}}) == Error::kNoSipiPage);    // kernel owns all
  CHECK(choose_error({{0x0, 0x9FC00, MemoryType::kAcpiNvs}}) == Error::kNoSipiPage);
  CHECK(choose_error({{0x0, 0x9FC00, kUsable}, {0x0, 0x9FC00, MemoryType::kBad}}) ==
        Error::kNoSipiPage);
  // Usable only in pieces smaller than a page, or not page aligned into any whole page.
  std::vector<MemoryRange> crumbs;
  for (uint64_t a = 0x1800; a < 0x9F000; a += 0x1000) crumbs.push_back({a, 0x800, kUsable});
  CHECK(choose_error(crumbs) == Error::kNoSipiPage);
  CHECK(std::string(smpboot::error_name(Error::kNoSipiPage)) == "no_sipi_page");
}

TEST_CASE("usable overlapping reserved: reserved wins, in either order") {
  const std::vector<MemoryRange> a = {{0x0, 0xA0000, kUsable}, {0x9D800, 0x100, kReserved}};
  const std::vector<MemoryRange> b = {{0x9D800, 0x100, kReserved}, {0x0, 0xA0000, kUsable}};
  CHECK(choose(a) == 0x9E000);
  CHECK(choose(a, {{0x9E000, 0x1000}}) == 0x9C000);  // 0x9D000 is partly reserved
  CHECK(choose(b, {{0x9E000, 0x1000}}) == 0x9C000);
  CHECK(choose({{0x0, 0xA0000, kUsable}, {0x9E000, 0x1, MemoryType::kAcpiReclaimable}}) ==
        0x9D000);
  // A reserved range covering everything below 1 MiB beats any usable entry.
  CHECK(choose_error({{0x0, 0xA0000, kUsable}, {0x0, 0x100000, kReserved}}) ==
        Error::kNoSipiPage);
}

TEST_CASE("unsorted maps, zero-length entries, RAM split at odd boundaries") {
  std::vector<MemoryRange> shuffled = kSeaBiosLow;
  shuffled.push_back({0x9E000, 0, kReserved});     // zero length: blocks nothing
  shuffled.push_back({0x50000, 0, kUsable});       // zero length: adds nothing
  std::mt19937 rng(12);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    CHECK(choose(shuffled) == 0x9E000);
    CHECK(choose(shuffled, {{0x9E000, 0x1000}}) == 0x9D000);
  }
  // A page made of two usable entries that meet mid-page (and out of order) is usable.
  CHECK(choose({{0x9E800, 0x1400, kUsable}, {0x1000, 0x9D800, kUsable}}) == 0x9E000);
  // A gap of one byte is not.
  CHECK(choose({{0x9E801, 0x1400, kUsable}, {0x1000, 0x9D800, kUsable}}) == 0x9D000);
  // Overlapping usable entries, one ending past 2^64 (wraps: taken as the end of memory).
  CHECK(choose({{0x9D000, ~uint64_t{0}, kUsable}, {0x0, 0x9E800, kUsable}}) == 0x9E000);
  // Only zero-length entries.
  CHECK(choose_error({{0x1000, 0, kUsable}, {0x2000, 0, kUsable}}) == Error::kNoSipiPage);
}

// ---- Real maps: tests/data/memmap/<name>.mmap.bin (Multiboot 1 entries as GRUB or QEMU ----
// handed them over) and <name>.txt (the same decoded, with the BDA's EBDA segment).

namespace {

struct RealMap {
  std::vector<MemoryRange> ranges;
  uint16_t ebda_segment = 0;
};

RealMap load_real(const std::string& name) {
  const fs::path dir = fs::path(SMPBOOT_TEST_DATA) / "memmap";
  std::ifstream bin(dir / (name + ".mmap.bin"), std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(bin), {}};
  REQUIRE(!bytes.empty());
  RealMap out;
  // Multiboot 1 mmap entry: u32 size (not counting itself), u64 base_addr, u64 length, u32 type.
  for (size_t at = 0; at + 24 <= bytes.size();) {
    uint32_t size, type;
    uint64_t base, length;
    std::memcpy(&size, &bytes[at], 4);
    std::memcpy(&base, &bytes[at + 4], 8);
    std::memcpy(&length, &bytes[at + 12], 8);
    std::memcpy(&type, &bytes[at + 20], 4);
    out.ranges.push_back({base, length, smpboot::memory_type_from_e820(type)});
    at += size + 4;
  }
  std::ifstream txt(dir / (name + ".txt"));
  std::string line;
  size_t row = 0;
  while (std::getline(txt, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string a, b;
    uint32_t type = 0;
    in >> a >> b;
    if (a == "ebda_segment") {
      out.ebda_segment = uint16_t(std::stoul(b, nullptr, 16));
      continue;
    }
    in >> type;
    REQUIRE(row < out.ranges.size());
    CHECK(out.ranges[row].base == std::stoull(a, nullptr, 16));
    CHECK(out.ranges[row].length == std::stoull(b, nullptr, 16));
    CHECK(out.ranges[row].type == smpboot::memory_type_from_e820(type));
    ++row;
  }
  CHECK(row == out.ranges.size());
  return out;
}

}  // namespace

TEST_CASE("real memory maps: SeaBIOS (pc, q35; 32 MiB to 6 GiB) and Bochs") {
  struct Expect {
    const char* name;
    size_t entries;
  };
  for (const Expect e : {Expect{"seabios-pc-32m", 7}, Expect{"seabios-pc-256m", 7},
                         Expect{"seabios-pc-6g", 8}, Expect{"seabios-q35-256m", 9},
                         Expect{"seabios-q35-6g", 10}, Expect{"bochs-32m", 6},
                         Expect{"bochs-256m", 6}}) {
    CAPTURE(e.name);
    const RealMap m = load_real(e.name);
    CHECK(m.ranges.size() == e.entries);
    CHECK(m.ebda_segment == 0x9FC0);
    // SeaBIOS: usable to 0x9FC00 (EBDA 0x9FC00-0x9FFFF reserved); Bochs: usable to 0x9F000.
    // Either way the page under the EBDA's page is the highest free one.
    CHECK(choose(m.ranges, {}, m.ebda_segment) == 0x9E000);
    CHECK(choose(m.ranges) == 0x9E000);
    CHECK(choose(m.ranges, {}, m.ebda_segment, SipiPagePreference::kLowest) == 0x1000);
    // A kernel that keeps its boot page tables at 0x9C000-0x9EFFF.
    CHECK(choose(m.ranges, {{0x9C000, 0x3000}}, m.ebda_segment) == 0x9B000);
    // GRUB's / QEMU's Multiboot info (0x9000-0x9FFF, 0x10000-...) marked as the kernel's.
    CHECK(choose(m.ranges, {{0x1000, 0x9000}, {0x10000, 0x1000}}, m.ebda_segment,
                 SipiPagePreference::kLowest) == 0xA000);
  }
}

// ---- OVMF: the EFI memory map GRUB passes in the Multiboot 2 tag 17, raw descriptors ----------
// (tests/data/memmap/<name>.efi.txt: type, physical start, pages, attribute; captured with the
// example kernel's platform.dump=1). Under UEFI the BDA word 0x40E is 0: no EBDA is believed.

namespace {
struct EfiDescriptor {
  uint32_t type;
  uint64_t phys, pages;
};

std::vector<EfiDescriptor> load_efi(const std::string& name, uint16_t& ebda) {
  std::ifstream txt(fs::path(SMPBOOT_TEST_DATA) / "memmap" / (name + ".efi.txt"));
  std::vector<EfiDescriptor> out;
  for (std::string line; std::getline(txt, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string a, b, c;
    in >> a >> b;
    if (a == "ebda_segment") {
      ebda = uint16_t(std::stoul(b, nullptr, 16));
      continue;
    }
    in >> c;
    out.push_back({uint32_t(std::stoul(a)), std::stoull(b, nullptr, 16), std::stoull(c, nullptr, 16)});
  }
  return out;
}

std::vector<MemoryRange> ranges_of(const std::vector<EfiDescriptor>& efi, bool boot_services_exited) {
  std::vector<MemoryRange> out;
  for (const auto& d : efi) {
    out.push_back({d.phys, d.pages * smpboot::kEfiPageBytes,
                   smpboot::memory_type_from_efi(d.type, boot_services_exited)});
  }
  return out;
}
}  // namespace

TEST_CASE("real memory maps: OVMF's EFI memory map (q35 256 MiB and 6 GiB, pc 256 MiB)") {
  CHECK(smpboot::memory_type_from_efi(7, false) == MemoryType::kUsable);     // conventional
  CHECK(smpboot::memory_type_from_efi(4, true) == MemoryType::kUsable);      // boot services data
  CHECK(smpboot::memory_type_from_efi(4, false) == MemoryType::kReserved);   // ... still in use
  CHECK(smpboot::memory_type_from_efi(6, true) == MemoryType::kReserved);    // runtime services data
  CHECK(smpboot::memory_type_from_efi(10, true) == MemoryType::kAcpiNvs);
  CHECK(smpboot::memory_type_from_efi(0x7000'0000u, true) == MemoryType::kReserved);  // OEM
  for (const char* name : {"ovmf-q35-256m", "ovmf-q35-6g", "ovmf-pc-256m"}) {
    CAPTURE(name);
    uint16_t ebda = 0xFFFF;
    const auto efi = load_efi(name, ebda);
    REQUIRE(efi.size() > 100);
    CHECK(ebda == 0);
    // After ExitBootServices (how GRUB hands over): what the example kernel chose at boot.
    CHECK(choose(ranges_of(efi, true), {}, ebda) == 0x9E000);
    // Before it, only EfiConventionalMemory counts: the page chosen must be one.
    const uint64_t page = choose(ranges_of(efi, false), {}, ebda);
    bool conventional = false;
    for (const auto& d : efi) {
      conventional |= d.type == 7 && d.phys <= page && page + 0x1000 <= d.phys + d.pages * 0x1000;
    }
    CHECK(conventional);
  }
}
