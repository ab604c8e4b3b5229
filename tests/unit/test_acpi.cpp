// ACPI discovery (discovery/acpi.hpp: ACPI 6.5 5.2.5 RSDP, 5.2.6 table header, 5.2.7 RSDT,
// 5.2.8 XSDT) against a fake physical memory of separate exact-size segments, so that the
// sanitizer build catches any read past what the mapping function handed out: malformed RSDPs
// and root tables built byte by byte here, and the real tables of SeaBIOS (QEMU pc and q35)
// and Bochs' BIOS captured at boot (tests/data/acpi/, README.md there), walked from the BIOS
// area scan to the MADT.
#include <doctest/doctest.h>

#include <algorithm>

#include <smpboot/discovery/acpi.hpp>
#include <smpboot/discovery/madt.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using smpboot::AcpiRootChoice;
using smpboot::AcpiSignature;
using smpboot::Error;
using smpboot::Madt;
using smpboot::Rsdp;
namespace fs = std::filesystem;

namespace {

// Physical memory as disjoint segments; map() answers only inside one segment.
class FakePhys {
 public:
  void put(uint64_t phys, std::vector<uint8_t> bytes) {
    segments_.push_back({phys, std::move(bytes)});
  }
  const uint8_t* map(uint64_t phys, uint32_t length) {
    ++calls;
    for (auto& s : segments_) {
      if (phys >= s.phys && phys - s.phys <= s.bytes.size() &&
          length <= s.bytes.size() - (phys - s.phys)) {
        return s.bytes.data() + (phys - s.phys);
      }
    }
    return nullptr;
  }
  auto mapper() {
    return [this](uint64_t phys, uint32_t length) -> const uint8_t* { return map(phys, length); };
  }
  int calls = 0;

 private:
  struct Segment {
    uint64_t phys;
    std::vector<uint8_t> bytes;
  };
  std::vector<Segment> segments_;
};

void put_le(std::vector<uint8_t>& out, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[at + i] = uint8_t(v >> (8 * i));
}
uint8_t sum(const std::vector<uint8_t>& b, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = uint8_t(s + b[i]);
  return s;
}

std::vector<uint8_t> make_rsdp(uint8_t revision, uint32_t rsdt, uint64_t xsdt = 0,
                               const char* oem = "SMPBT ") {
  std::vector<uint8_t> r(revision >= 2 ? 36 : 20, 0);
  const char* sig = "RSD PTR ";
  for (int i = 0; i < 8; ++i) r[i] = uint8_t(sig[i]);
  for (int i = 0; i < 6; ++i) r[9 + i] = uint8_t(oem[i]);
  r[15] = revision;
  put_le(r, 16, rsdt, 4);
  if (revision >= 2) {
    put_le(r, 20, 36, 4);
    put_le(r, 24, xsdt, 8);
  }
  r[8] = uint8_t(-sum(r, 20));
  if (revision >= 2) r[32] = uint8_t(-sum(r, 36));
  return r;
}

// A table: 36-byte header with `sig`, then `body`; Length and Checksum set.
std::vector<uint8_t> make_table(const char* sig, const std::vector<uint8_t>& body = {}) {
  std::vector<uint8_t> t(36, 0);
  for (int i = 0; i < 4; ++i) t[i] = uint8_t(sig[i]);
  t[8] = 1;
  t.insert(t.end(), body.begin(), body.end());
  put_le(t, 4, t.size(), 4);
  t[9] = uint8_t(-sum(t, t.size()));
  return t;
}
std::vector<uint8_t> entries(const std::vector<uint64_t>& phys, int width) {
  std::vector<uint8_t> b(phys.size() * width, 0);
  for (size_t i = 0; i < phys.size(); ++i) put_le(b, i * width, phys[i], width);
  return b;
}
void fix_checksum(std::vector<uint8_t>& t) {
  t[9] = 0;
  t[9] = uint8_t(-sum(t, t.size()));
}

constexpr uint64_t kRsdpAt = 0xF5000;

// The BIOS area (0xE0000-0xFFFFF) with `rsdp` at `at`, and the BDA word 0x40E.
void put_bios_area(FakePhys& mem, const std::vector<uint8_t>& rsdp, uint64_t at = kRsdpAt,
                   uint16_t ebda_segment = 0) {
  std::vector<uint8_t> area(0x20000, 0);
  // An RSDP placed near 1 MiB keeps only the bytes below it (the area ends there).
  const size_t room = area.size() - size_t(at - 0xE0000);
  std::copy_n(rsdp.begin(), std::min(rsdp.size(), room), area.begin() + (at - 0xE0000));
  mem.put(0xE0000, std::move(area));
  mem.put(0x40E, {uint8_t(ebda_segment), uint8_t(ebda_segment >> 8)});
}

}  // namespace

TEST_CASE("parse_rsdp: signature, both checksums, Length") {
  auto v0 = make_rsdp(0, 0x1000);
  auto r = smpboot::parse_rsdp(v0.data(), v0.size(), 0xF0000);
  REQUIRE(r.ok());
  CHECK(r->revision == 0);
  CHECK(r->rsdt_phys == 0x1000);
  CHECK(r->phys == 0xF0000);
  CHECK(r->length == 20);
  CHECK_FALSE(r->has_xsdt());
  CHECK(r->oem_id[0] == 'S');

  CHECK(smpboot::parse_rsdp(v0.data(), 19).error() == Error::kRsdpTooShort);
  CHECK(smpboot::parse_rsdp(nullptr, 20).error() == Error::kRsdpTooShort);
  auto bad_sig = v0;
  bad_sig[3] = 'X';
  CHECK(smpboot::parse_rsdp(bad_sig.data(), 20).error() == Error::kRsdpBadSignature);
  auto bad_sum = v0;
  bad_sum[8] ^= 1;
  CHECK(smpboot::parse_rsdp(bad_sum.data(), 20).error() == Error::kRsdpBadChecksum);

  auto v2 = make_rsdp(2, 0x1000, 0x1'2345'6000ull);
  auto r2 = smpboot::parse_rsdp(v2.data(), v2.size());
  REQUIRE(r2.ok());
  CHECK(r2->has_xsdt());
  CHECK(r2->xsdt_phys == 0x1'2345'6000ull);
  CHECK(r2->length == 36);
  CHECK(smpboot::parse_rsdp(v2.data(), 20).error() == Error::kRsdpTooShort);

  // The extended checksum is wrong but the 1.0 checksum (first 20 bytes) still right.
  auto bad_ext = v2;
  bad_ext[32] ^= 1;
  CHECK(smpboot::parse_rsdp(bad_ext.data(), 36).error() == Error::kRsdpBadExtendedChecksum);
  // A byte past 20 changed: only the extended checksum sees it.
  auto bad_xsdt = v2;
  bad_xsdt[24] ^= 0x10;
  CHECK(smpboot::parse_rsdp(bad_xsdt.data(), 36).error() == Error::kRsdpBadExtendedChecksum);

  for (uint32_t length : {0u, 20u, 35u, 4097u, 0xFFFF'FFFFu}) {
    auto bad_len = v2;
    put_le(bad_len, 20, length, 4);
    bad_len[32] = 0;
    bad_len[32] = uint8_t(-sum(bad_len, 36));
    CHECK(smpboot::parse_rsdp(bad_len.data(), 36).error() == Error::kRsdpBadLength);
  }
  // A longer Length (a future revision) is summed over all of it, and must fit the buffer.
  auto longer = v2;
  longer.resize(48, 0);
  put_le(longer, 20, 48, 4);
  longer[32] = 0;
  longer[32] = uint8_t(-sum(longer, 48));
  CHECK(smpboot::parse_rsdp(longer.data(), 48).ok());
  CHECK(smpboot::parse_rsdp(longer.data(), 40).error() == Error::kRsdpTooShort);
}

TEST_CASE("find_rsdp_in_bios_areas: BIOS area, EBDA first, bad candidates skipped") {
  SUBCASE("BIOS area only, no EBDA") {
    FakePhys mem;
    put_bios_area(mem, make_rsdp(0, 0x1000), 0xFFFF0 - 16);
    auto r = smpboot::find_rsdp_in_bios_areas(mem.mapper());
    REQUIRE(r.ok());
    CHECK(r->phys == 0xFFFE0);
  }
  SUBCASE("the EBDA's first KiB is searched before the BIOS area") {
    FakePhys mem;
    put_bios_area(mem, make_rsdp(0, 0x2000, 0, "BIOS  "), kRsdpAt, 0x9FC0);
    std::vector<uint8_t> ebda(1024, 0);
    auto in_ebda = make_rsdp(0, 0x3000, 0, "EBDA  ");
    std::copy(in_ebda.begin(), in_ebda.end(), ebda.begin() + 0x40);
    mem.put(0x9FC00, ebda);
    auto r = smpboot::find_rsdp_in_bios_areas(mem.mapper());
    REQUIRE(r.ok());
    CHECK(r->phys == 0x9FC40);
    CHECK(r->rsdt_phys == 0x3000);
  }
  SUBCASE("an EBDA that cannot be mapped, or a BDA word outside low memory, is passed over") {
    for (uint16_t seg : {uint16_t(0), uint16_t(0x9FC0), uint16_t(0x0010), uint16_t(0xFFFF)}) {
      FakePhys mem;
      put_bios_area(mem, make_rsdp(0, 0x2000), kRsdpAt, seg);
      auto r = smpboot::find_rsdp_in_bios_areas(mem.mapper());
      REQUIRE(r.ok());
      CHECK(r->phys == kRsdpAt);
    }
  }
  SUBCASE("a signature off the 16-byte grid is not an RSDP") {
    FakePhys mem;
    put_bios_area(mem, make_rsdp(0, 0x2000), kRsdpAt + 8);
    CHECK(smpboot::find_rsdp_in_bios_areas(mem.mapper()).error() == Error::kRsdpNotFound);
  }
  SUBCASE("a stale copy with a bad checksum before the real one is skipped") {
    FakePhys mem;
    std::vector<uint8_t> area(0x20000, 0);
    auto stale = make_rsdp(0, 0x1111);
    stale[8] ^= 0xFF;
    auto good = make_rsdp(0, 0x2222);
    std::copy(stale.begin(), stale.end(), area.begin() + 0x100);
    std::copy(good.begin(), good.end(), area.begin() + 0x200);
    mem.put(0xE0000, area);
    auto r = smpboot::find_rsdp_in_bios_areas(mem.mapper());
    REQUIRE(r.ok());
    CHECK(r->rsdt_phys == 0x2222);
  }
  SUBCASE("only bad candidates: the first one's error") {
    auto bad1 = make_rsdp(0, 0x1000);
    bad1[8] ^= 1;
    FakePhys mem;
    put_bios_area(mem, bad1);
    CHECK(smpboot::find_rsdp_in_bios_areas(mem.mapper()).error() == Error::kRsdpBadChecksum);

    auto bad2 = make_rsdp(2, 0x1000, 0x2000);
    bad2[32] ^= 1;
    FakePhys mem2;
    put_bios_area(mem2, bad2);
    CHECK(smpboot::find_rsdp_in_bios_areas(mem2.mapper()).error() ==
          Error::kRsdpBadExtendedChecksum);
  }
  SUBCASE("a revision-2 RSDP whose Length runs past the end of the BIOS area") {
    auto v2 = make_rsdp(2, 0x1000, 0x2000);
    put_le(v2, 20, 64, 4);  // Length 64: sane, but 0xFFFE0 + 64 is past 1 MiB
    v2[32] = 0;
    v2[32] = uint8_t(-sum(v2, 36));
    FakePhys mem;
    put_bios_area(mem, v2, 0xFFFE0);
    CHECK(smpboot::find_rsdp_in_bios_areas(mem.mapper()).error() == Error::kRsdpUnmapped);
  }
  SUBCASE("nothing mappable at all") {
    auto none = [](uint64_t, uint32_t) -> const uint8_t* { return nullptr; };
    CHECK(smpboot::find_rsdp_in_bios_areas(none).error() == Error::kRsdpNotFound);
    CHECK(smpboot::load_rsdp(none, 0xF0000).error() == Error::kRsdpUnmapped);
  }
}

TEST_CASE("load_root_table: XSDT preferred, RSDT-only firmware, malformed roots") {
  FakePhys mem;
  auto apic = make_table("APIC", std::vector<uint8_t>(8, 0));
  mem.put(0x1'0000'0000ull, apic);  // above 4 GiB: only an XSDT entry can name it
  mem.put(0x5000, make_table("APIC", std::vector<uint8_t>(8, 0)));
  mem.put(0x6000, make_table("FACP"));
  mem.put(0x7000, make_table("XSDT", entries({0x6000, 0x1'0000'0000ull}, 8)));
  mem.put(0x8000, make_table("RSDT", entries({0x6000, 0x5000}, 4)));

  SUBCASE("revision 2 with an XSDT: the XSDT, 64-bit entries") {
    auto rsdp = make_rsdp(2, 0x8000, 0x7000);
    auto r = smpboot::parse_rsdp(rsdp.data(), rsdp.size());
    REQUIRE(r.ok());
    auto root = smpboot::load_root_table(mem.mapper(), *r);
    REQUIRE(root.ok());
    CHECK(root->is_xsdt());
    CHECK(root->count() == 2);
    CHECK(root->entry_phys(1) == 0x1'0000'0000ull);
    CHECK(root->entry_phys(2) == 0);
    auto t = smpboot::find_acpi_table(mem.mapper(), *root, "APIC");
    REQUIRE(t.ok());
    CHECK(t->phys == 0x1'0000'0000ull);
    CHECK(t->signature() == AcpiSignature("APIC"));

    auto rsdt = smpboot::load_root_table(mem.mapper(), *r, AcpiRootChoice::kRsdt);
    REQUIRE(rsdt.ok());
    CHECK_FALSE(rsdt->is_xsdt());
    CHECK(smpboot::find_acpi_table(mem.mapper(), *rsdt, "APIC")->phys == 0x5000);
  }
  SUBCASE("revision 0 (ACPI 1.0, RSDT only): the RSDT, 32-bit entries") {
    auto rsdp = make_rsdp(0, 0x8000);
    auto r = smpboot::parse_rsdp(rsdp.data(), rsdp.size());
    auto root = smpboot::load_root_table(mem.mapper(), *r);
    REQUIRE(root.ok());
    CHECK_FALSE(root->is_xsdt());
    CHECK(root->count() == 2);
    CHECK(smpboot::find_acpi_table(mem.mapper(), *r, "APIC")->phys == 0x5000);
  }
  SUBCASE("revision 2 with XsdtAddress 0: the RSDT") {
    auto rsdp = make_rsdp(2, 0x8000, 0);
    auto root = smpboot::load_root_table(mem.mapper(), *smpboot::parse_rsdp(rsdp.data(), 36));
    REQUIRE(root.ok());
    CHECK_FALSE(root->is_xsdt());
  }
  SUBCASE("no root table at all") {
    Rsdp r;
    CHECK(smpboot::load_root_table(mem.mapper(), r).error() == Error::kAcpiRootTableMissing);
    CHECK(smpboot::find_acpi_table(mem.mapper(), r, "APIC").error() ==
          Error::kAcpiRootTableMissing);
  }
  SUBCASE("signatures swapped") {
    Rsdp r;
    r.revision = 2;
    r.rsdt_phys = 0x7000;  // an XSDT where the RSDT should be
    r.xsdt_phys = 0x8000;  // and the reverse
    CHECK(smpboot::load_root_table(mem.mapper(), r).error() == Error::kXsdtBadSignature);
    CHECK(smpboot::load_root_table(mem.mapper(), r, AcpiRootChoice::kRsdt).error() ==
          Error::kRsdtBadSignature);
  }
  SUBCASE("(Length - 36) not a whole number of entries") {
    FakePhys bad;
    bad.put(0x7000, make_table("XSDT", std::vector<uint8_t>(12, 0)));   // 1.5 entries
    bad.put(0x8000, make_table("RSDT", std::vector<uint8_t>(6, 0)));    // 1.5 entries
    bad.put(0x9000, make_table("XSDT", std::vector<uint8_t>(4, 0)));    // RSDT-sized entry
    Rsdp r;
    r.revision = 2;
    r.rsdt_phys = 0x8000;
    r.xsdt_phys = 0x7000;
    CHECK(smpboot::load_root_table(bad.mapper(), r).error() == Error::kXsdtEntryCountNotWhole);
    CHECK(smpboot::load_root_table(bad.mapper(), r, AcpiRootChoice::kRsdt).error() ==
          Error::kRsdtEntryCountNotWhole);
    r.xsdt_phys = 0x9000;
    CHECK(smpboot::load_root_table(bad.mapper(), r).error() == Error::kXsdtEntryCountNotWhole);
  }
  SUBCASE("an empty root table is valid and finds nothing") {
    FakePhys m;
    m.put(0x8000, make_table("RSDT"));
    Rsdp r;
    r.rsdt_phys = 0x8000;
    auto root = smpboot::load_root_table(m.mapper(), r);
    REQUIRE(root.ok());
    CHECK(root->count() == 0);
    CHECK(smpboot::find_acpi_table(m.mapper(), *root, "APIC").error() ==
          Error::kAcpiTableNotFound);
  }
}

TEST_CASE("load_acpi_table: Length, mapping and checksum of every header") {
  SUBCASE("Length below the 36-byte header") {
    for (uint32_t length : {0u, 1u, 35u}) {
      FakePhys m;
      auto t = make_table("APIC");
      put_le(t, 4, length, 4);
      fix_checksum(t);
      m.put(0x5000, t);
      CHECK(smpboot::load_acpi_table(m.mapper(), 0x5000).error() == Error::kAcpiTableTooShort);
    }
  }
  SUBCASE("Length past the mapping") {
    FakePhys m;
    auto t = make_table("APIC", std::vector<uint8_t>(8, 0));
    put_le(t, 4, 0x10000, 4);
    fix_checksum(t);
    m.put(0x5000, t);
    CHECK(smpboot::load_acpi_table(m.mapper(), 0x5000).error() == Error::kAcpiTableUnmapped);
    put_le(t, 4, 0xFFFF'FFFFu, 4);
    fix_checksum(t);
    FakePhys m2;
    m2.put(0x5000, t);
    CHECK(smpboot::load_acpi_table(m2.mapper(), 0x5000).error() == Error::kAcpiTableUnmapped);
  }
  SUBCASE("header not mappable, or address 0") {
    FakePhys m;
    m.put(0x5000, std::vector<uint8_t>(20, 0));
    CHECK(smpboot::load_acpi_table(m.mapper(), 0x5000).error() == Error::kAcpiTableUnmapped);
    CHECK(smpboot::load_acpi_table(m.mapper(), 0).error() == Error::kAcpiTableUnmapped);
  }
  SUBCASE("bad checksum") {
    FakePhys m;
    auto t = make_table("APIC", std::vector<uint8_t>(8, 0));
    t.back() ^= 0x40;
    m.put(0x5000, t);
    CHECK(smpboot::load_acpi_table(m.mapper(), 0x5000).error() == Error::kAcpiTableBadChecksum);
  }
  SUBCASE("a broken root table") {
    FakePhys m;
    auto root = make_table("RSDT", entries({0x5000}, 4));
    root[36] ^= 1;
    m.put(0x8000, root);
    Rsdp r;
    r.rsdt_phys = 0x8000;
    CHECK(smpboot::load_root_table(m.mapper(), r).error() == Error::kAcpiTableBadChecksum);
    auto longer = make_table("RSDT", entries({0x5000}, 4));
    put_le(longer, 4, 44, 4);  // Length past the 40 mapped bytes
    fix_checksum(longer);
    FakePhys m2;
    m2.put(0x8000, longer);
    CHECK(smpboot::load_root_table(m2.mapper(), r).error() == Error::kAcpiTableUnmapped);
  }
}

TEST_CASE("find_acpi_table: unmappable entries, duplicates, null entries, broken targets") {
  FakePhys mem;
  mem.put(0x5000, make_table("APIC", std::vector<uint8_t>(8, 0)));
  mem.put(0x6000, make_table("SSDT", {1}));
  mem.put(0x6100, make_table("SSDT", {2}));
  auto short_hpet = make_table("HPET");
  put_le(short_hpet, 4, 30, 4);
  fix_checksum(short_hpet);
  mem.put(0x6200, short_hpet);
  auto bad_mcfg = make_table("MCFG", {0, 0, 0, 0});
  bad_mcfg[37] = 9;
  mem.put(0x6300, bad_mcfg);
  // Entry 0 points at nothing, entry 2 is null, entry 5 at an address above anything mapped.
  mem.put(0x7000, make_table("XSDT", entries({0xDEAD'0000ull, 0x6000, 0, 0x5000, 0x6100,
                                              0xFFFF'FFFF'FFFF'F000ull, 0x6200, 0x6300},
                                             8)));
  Rsdp rsdp;
  rsdp.revision = 2;
  rsdp.xsdt_phys = 0x7000;
  auto root = smpboot::load_root_table(mem.mapper(), rsdp);
  REQUIRE(root.ok());
  REQUIRE(root->count() == 8);

  auto apic = smpboot::find_acpi_table(mem.mapper(), *root, "APIC");
  REQUIRE(apic.ok());  // found past the unmappable and the null entry
  CHECK(apic->phys == 0x5000);
  CHECK(apic->length == 44);

  auto ssdt0 = smpboot::find_acpi_table(mem.mapper(), *root, "SSDT", 0);
  auto ssdt1 = smpboot::find_acpi_table(mem.mapper(), *root, "SSDT", 1);
  REQUIRE(ssdt0.ok());
  REQUIRE(ssdt1.ok());
  CHECK(ssdt0->phys == 0x6000);
  CHECK(ssdt1->phys == 0x6100);
  CHECK(ssdt1->bytes[36] == 2);
  CHECK(smpboot::count_acpi_tables(mem.mapper(), *root, "SSDT") == 2);
  // Not there, but two entries could not be read: it may have been one of them.
  CHECK(smpboot::find_acpi_table(mem.mapper(), *root, "SSDT", 2).error() ==
        Error::kAcpiTableUnmapped);
  CHECK(smpboot::find_acpi_table(mem.mapper(), *root, "WAET").error() ==
        Error::kAcpiTableUnmapped);
  CHECK(smpboot::find_acpi_table(mem.mapper(), *root, "HPET").error() ==
        Error::kAcpiTableTooShort);
  CHECK(smpboot::find_acpi_table(mem.mapper(), *root, "MCFG").error() ==
        Error::kAcpiTableBadChecksum);

  FakePhys clean;
  clean.put(0x5000, make_table("APIC", std::vector<uint8_t>(8, 0)));
  clean.put(0x8000, make_table("RSDT", entries({0x5000, 0}, 4)));
  Rsdp v1;
  v1.rsdt_phys = 0x8000;
  CHECK(smpboot::find_acpi_table(clean.mapper(), v1, "WAET").error() ==
        Error::kAcpiTableNotFound);
  CHECK(smpboot::find_acpi_table(clean.mapper(), v1, "APIC", 1).error() ==
        Error::kAcpiTableNotFound);
}

TEST_CASE("error names") {
  CHECK(std::string(smpboot::error_name(Error::kRsdpNotFound)) == "rsdp_not_found");
  CHECK(std::string(smpboot::error_name(Error::kXsdtEntryCountNotWhole)) ==
        "xsdt_entry_count_not_whole");
  CHECK(std::string(smpboot::error_name(Error::kAcpiTableUnmapped)) == "acpi_table_unmapped");
}

// ---- Real firmware: tests/data/acpi/<firmware>/<SIG>@<phys>.bin, captured at boot ----------

namespace {

struct RealSet {
  const char* dir;
  uint64_t rsdp_phys;
  uint32_t root_entries;
  const char* tables;  // signatures in RSDT order
  uint32_t cpus;
};
constexpr RealSet kRealSets[] = {
    {"seabios-pc", 0xF59D0, 4, "FACPAPICHPETWAET", 4},
    {"seabios-q35", 0xF59E0, 5, "FACPAPICHPETMCFGWAET", 4},
    {"bochs", 0xFA060, 4, "FACPAPICSSDTHPET", 4},
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Every captured table at its address; the RSDP also copied into a zeroed BIOS area at its
// offset, with the BDA naming the EBDA at 0x9FC00 (all three firmwares did), so the search
// runs as it does at boot.
void load_real_set(FakePhys& mem, const fs::path& dir, uint64_t& rsdp_phys) {
  std::vector<uint8_t> rsdp;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".bin") continue;
    const auto at = name.find('@');
    REQUIRE(at != std::string::npos);
    const uint64_t phys = std::stoull(name.substr(at + 1), nullptr, 16);
    auto bytes = read_file(e.path());
    if (name.rfind("RSDP@", 0) == 0) {
      rsdp = bytes;
      rsdp_phys = phys;
    } else {
      mem.put(phys, bytes);
    }
  }
  REQUIRE(!rsdp.empty());
  put_bios_area(mem, rsdp, rsdp_phys, 0x9FC0);
  mem.put(0x9FC00, std::vector<uint8_t>(1024, 0));
}

}  // namespace

TEST_CASE("real firmware: from the BIOS area scan to the MADT") {
  for (const RealSet& set : kRealSets) {
    CAPTURE(set.dir);
    FakePhys mem;
    uint64_t file_rsdp = 0;
    load_real_set(mem, fs::path(SMPBOOT_TEST_DATA) / "acpi" / set.dir, file_rsdp);
    CHECK(file_rsdp == set.rsdp_phys);

    auto rsdp = smpboot::find_rsdp_in_bios_areas(mem.mapper());
    REQUIRE(rsdp.ok());
    CHECK(rsdp->phys == set.rsdp_phys);
    CHECK(rsdp->revision == 0);  // SeaBIOS 1.16 and Bochs 2.7: ACPI 1.0 RSDP, no XSDT
    CHECK_FALSE(rsdp->has_xsdt());
    CHECK(std::string(reinterpret_cast<const char*>(rsdp->oem_id), 6) == "BOCHS ");

    auto root = smpboot::load_root_table(mem.mapper(), *rsdp);
    REQUIRE(root.ok());
    CHECK_FALSE(root->is_xsdt());
    REQUIRE(root->count() == set.root_entries);
    for (uint32_t i = 0; i < root->count(); ++i) {
      const AcpiSignature sig{{set.tables[4 * i], set.tables[4 * i + 1], set.tables[4 * i + 2],
                               set.tables[4 * i + 3], 0}};
      auto t = smpboot::find_acpi_table(mem.mapper(), *root, sig);
      REQUIRE(t.ok());
      CHECK(t->phys == root->entry_phys(i));
    }
    CHECK(smpboot::find_acpi_table(mem.mapper(), *root, "XSDT").error() ==
          Error::kAcpiTableNotFound);

    // The few lines a kernel writes.
    auto apic = smpboot::find_acpi_table(mem.mapper(), *rsdp, "APIC");
    REQUIRE(apic.ok());
    auto madt = Madt::parse(apic->bytes, apic->length);
    REQUIRE(madt.ok());
    uint32_t enabled = 0;
    auto walk = madt->for_each_cpu([&](const smpboot::MadtCpuEntry& e) { enabled += e.enabled(); });
    CHECK(walk.ok());
    CHECK(enabled == set.cpus);
    CHECK(madt->local_apic_phys() == 0xFEE00000u);

    auto facp = smpboot::find_acpi_table(mem.mapper(), *rsdp, "FACP");
    REQUIRE(facp.ok());
    CHECK(facp->length >= 116);  // ACPI 1.0 FADT
  }
}

// OVMF (EDK2) under QEMU, reached through GRUB EFI `multiboot2`: an ACPI 2.0 RSDP handed over
// as a copy in the Multiboot 2 "ACPI new" tag (RSDP@00000000.bin: a copy has no address), an
// XSDT with 64-bit entries, and the tables it lists (captured with the example kernel's
// platform.dump=1, tools/capture/firmware_dump.py).
TEST_CASE("real firmware: OVMF's ACPI 2.0 RSDP copy, the XSDT, the MADT") {
  struct OvmfSet {
    const char* dir;
    const char* tables;  // signatures in XSDT order
  };
  for (const OvmfSet set : {OvmfSet{"ovmf-q35", "FACPAPICHPETMCFGWAET"},
                            OvmfSet{"ovmf-pc", "FACPAPICHPETWAET"}}) {
    CAPTURE(set.dir);
    const fs::path dir = fs::path(SMPBOOT_TEST_DATA) / "acpi" / set.dir;
    FakePhys mem;
    std::vector<uint8_t> rsdp_copy;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() != ".bin") continue;
      if (name.rfind("RSDP@", 0) == 0) {
        rsdp_copy = read_file(e.path());
      } else {
        mem.put(std::stoull(name.substr(name.find('@') + 1), nullptr, 16), read_file(e.path()));
      }
    }
    auto rsdp = smpboot::parse_rsdp(rsdp_copy.data(), rsdp_copy.size());
    REQUIRE(rsdp.ok());
    CHECK(rsdp->revision == 2);
    CHECK(rsdp->length == 36);
    CHECK(rsdp->has_xsdt());
    auto root = smpboot::load_root_table(mem.mapper(), *rsdp);  // the XSDT is preferred
    REQUIRE(root.ok());
    CHECK(root->is_xsdt());
    REQUIRE(root->count() * 4 == std::string(set.tables).size());
    for (uint32_t i = 0; i < root->count(); ++i) {
      auto t = smpboot::load_acpi_table(mem.mapper(), root->entry_phys(i));
      REQUIRE(t.ok());
      CHECK(std::string(reinterpret_cast<const char*>(t->bytes), 4) ==
            std::string(set.tables + 4 * i, 4));
    }
    // The RSDT the RSDP also names was not captured: asking for it is an error, not a guess.
    CHECK(smpboot::load_root_table(mem.mapper(), *rsdp, smpboot::AcpiRootChoice::kRsdt).error() ==
          Error::kAcpiTableUnmapped);
    auto apic = smpboot::find_acpi_table(mem.mapper(), *rsdp, "APIC");
    REQUIRE(apic.ok());
    auto madt = Madt::parse(apic->bytes, apic->length);
    REQUIRE(madt.ok());
    uint32_t enabled = 0;
    CHECK(madt->for_each_cpu([&](const smpboot::MadtCpuEntry& e) { enabled += e.enabled(); }).ok());
    CHECK(enabled == 4);
  }
}
