// The real-world corpus in tests/data: 210 MADTs from linuxhw/ACPI and 160 CPUID dumps from
// libcpuid, each with expected values computed independently from the specifications. The
// MADT walker and the CPUID decoders must agree with every row, the inspector's census must
// agree with a count over those rows, and the walker must survive every truncation and
// subtable-length corruption of every real table.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cpuid_dump.hpp"
#include "report.hpp"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_ending(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::vector<std::string>> parse_tsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cols;
    std::istringstream ls(line);
    for (std::string c; std::getline(ls, c, '\t');) cols.push_back(c);
    rows.push_back(cols);
  }
  return rows;
}

const fs::path kData = SMPBOOT_TEST_DATA;

std::string madt_name(const std::string& stem) { return (kData / "madt" / stem).string(); }

// The census lines of `smpboot-inspect madt` for one table, as name -> value.
std::map<std::string, std::string> census_lines(const std::string& report) {
  std::map<std::string, std::string> out;
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);) {
    REQUIRE(line.rfind("# ", 0) == 0);
    const size_t colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    out[line.substr(2, colon - 2)] = line.substr(colon + 2);
  }
  return out;
}

std::string count_and_ids(size_t count, const std::vector<uint32_t>& ids) {
  std::string s = std::to_string(count);
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : " (") + std::to_string(ids[i]);
  return ids.empty() ? s : s + ")";
}

// A real table's bytes with some fields rewritten, and its checksum made right again.
std::string patched(const std::string& stem, const std::vector<std::pair<size_t, uint32_t>>& le32) {
  std::string bytes = slurp(madt_name(stem + ".apic.dat"));
  for (auto [offset, value] : le32) {
    for (int i = 0; i < 4; ++i) bytes[offset + size_t(i)] = char(uint8_t(value >> (8 * i)));
  }
  bytes[9] = 0;
  uint8_t sum = 0;
  for (char b : bytes) sum = uint8_t(sum + uint8_t(b));
  bytes[9] = char(uint8_t(0x100 - sum));
  return bytes;
}

std::string census_of(const std::string& bytes) {
  auto madt = smpboot::Madt::parse(bytes.data(), bytes.size(), smpboot::MadtChecksum::kIgnore);
  REQUIRE(madt.ok());
  return smpboot::tools::madt_census_report(*madt);
}

constexpr const char* kImac = "all-in-one__apple__imac11-3__9C99E007509B__t2";
constexpr const char* kX299 = "desktop__evga__x299-micro__4B645993A72D";
constexpr const char* kPrestige = "notebook__msi__prestige-13-ai-evo-a2vmg__F253BBB7B294";
constexpr const char* kL380 = "convertible__lenovo__thinkpad-l380-yoga-20m7cto1ww__BE9571B3401F";

}  // namespace

TEST_CASE("MADT walker reproduces every expected row of the corpus") {
  const auto tables = files_ending(kData / "madt", ".apic.dat");
  REQUIRE(tables.size() >= 200);
  for (const auto& path : tables) {
    INFO(path.filename().string());
    const std::string bytes = slurp(path);
    auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
    REQUIRE(madt.ok());
    std::string report;
    CHECK(smpboot::tools::madt_report(*madt, report).ok());
    std::string expected_path = path.string();
    expected_path.replace(expected_path.size() - 9, 9, ".expected.tsv");
    CHECK(report == slurp(expected_path));
  }
}

TEST_CASE("MADT CPU census: one record per distinct enabled APIC ID, BSP first") {
  for (const auto& path : files_ending(kData / "madt", ".apic.dat")) {
    INFO(path.filename().string());
    const std::string bytes = slurp(path);
    auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
    REQUIRE(madt.ok());
    std::map<uint32_t, bool> enabled_ids;
    smpboot::ApicId first_enabled{0xFFFF'FFFFu};
    (void)madt->for_each_cpu([&](const smpboot::MadtCpuEntry& e) {
      if (e.enabled() && !e.placeholder()) {
        if (first_enabled.value == 0xFFFF'FFFFu) first_enabled = e.apic_id;
        enabled_ids[e.apic_id.value] = true;
      }
    });
    if (enabled_ids.empty()) continue;
    auto table = std::make_unique<smpboot::CpuTable<1024>>();
    const auto census = smpboot::add_cpus_from_madt(*table, *madt, first_enabled);
    CHECK(census.walk_error == smpboot::Error::kNone);
    CHECK(census.enabled == enabled_ids.size());
    CHECK(table->size() == enabled_ids.size());
    CHECK((*table)[0].apic_id == first_enabled.value);
    for (auto [id, _] : enabled_ids) CHECK(table->find(smpboot::ApicId{id}).ok());
  }
}

// The UID, type and flags each record keeps (issue 14) against the expected rows, computed
// independently of the walker: the first enabled, non-placeholder row of each APIC ID. Covers
// type-0 tables, type-9 tables (Meteor Lake) and tables listing both (X299).
TEST_CASE("every record keeps the UID, type and flags of its first enabled MADT row") {
  size_t type9 = 0, mixed = 0;
  for (const auto& path : files_ending(kData / "madt", ".apic.dat")) {
    INFO(path.filename().string());
    std::string expected_path = path.string();
    expected_path.replace(expected_path.size() - 9, 9, ".expected.tsv");
    struct Row { uint32_t uid; uint32_t type; uint32_t flags; };
    std::map<uint32_t, Row> first;  // APIC ID -> its first enabled row
    std::vector<uint32_t> order;
    std::set<uint32_t> types;
    for (const auto& cols : parse_tsv(slurp(expected_path))) {
      if (cols.size() < 8 || cols[0] == "index") continue;
      const uint32_t type = uint32_t(std::stoul(cols[2])), id = uint32_t(std::stoul(cols[4]));
      types.insert(type);
      if (cols[6] != "1" || (type == 0 && id == 0xFF) || first.count(id)) continue;
      first[id] = {uint32_t(std::stoul(cols[3])), type, uint32_t(std::stoul(cols[5], nullptr, 16))};
      order.push_back(id);
    }
    if (order.empty()) continue;
    type9 += types.count(9);
    mixed += types.count(0) && types.count(9);
    const std::string bytes = slurp(path);
    auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
    REQUIRE(madt.ok());
    auto table = std::make_unique<smpboot::CpuTable<1024>>();
    (void)smpboot::add_cpus_from_madt(*table, *madt, smpboot::ApicId{order[0]});
    REQUIRE(table->size() == first.size());
    for (const auto& r : *table) {
      const Row& want = first.at(r.apic_id);
      CHECK(r.uid() == smpboot::AcpiUid{want.uid});
      CHECK(r.madt_type == want.type);
      CHECK(r.madt_flags == uint8_t(want.flags));
    }
  }
  CHECK(type9 >= 3);
  CHECK(mixed >= 2);
}

TEST_CASE("inspector census agrees with a count over every table's expected rows") {
  // The expected rows are the iasl disassembly's view of each table (tests/data/madt/README.md);
  // counting over them shares no code with add_cpus_from_madt.
  for (const auto& path : files_ending(kData / "madt", ".apic.dat")) {
    INFO(path.filename().string());
    const std::string bytes = slurp(path);
    auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
    REQUIRE(madt.ok());
    const auto got = census_lines(smpboot::tools::madt_census_report(*madt));

    std::string expected_path = path.string();
    expected_path.replace(expected_path.size() - 9, 9, ".expected.tsv");
    const auto rows = parse_tsv(slurp(expected_path));
    std::map<uint32_t, uint32_t> enabled, all;  // APIC ID -> entries listing it
    std::string bsp = "-";
    uint32_t placeholders = 0, disabled = 0, online_capable = 0, enabled_entries = 0, entries = 0;
    for (size_t r = 1; r < rows.size(); ++r) {
      const uint32_t type = uint32_t(std::stoul(rows[r][2]));
      const uint32_t id = uint32_t(std::stoul(rows[r][4]));
      if (type == 0 && id == 0xFF) { ++placeholders; continue; }
      ++all[id];
      ++entries;
      if (rows[r][6] == "1") {
        if (bsp == "-") bsp = std::to_string(id);
        ++enabled[id];
        ++enabled_entries;
      } else {
        ++(rows[r][7] == "1" ? online_capable : disabled);
      }
    }
    std::vector<uint32_t> dup_ids, dup_ids_all, wide_ids;
    for (auto [id, n] : enabled) {
      if (n > 1) dup_ids.push_back(id);
      if (id > 0xFE) wide_ids.push_back(id);
    }
    for (auto [id, n] : all) if (n > 1) dup_ids_all.push_back(id);

    // No real table should list the x2APIC broadcast ID as an enabled CPU, but if one does,
    // that CPU can get no record (the BSP's own entry is never counted as left out).
    const uint32_t left_out = enabled.count(0xFFFF'FFFFu) && bsp != "4294967295" ? 1 : 0;
    const size_t added = enabled.size() - enabled.count(0xFFFF'FFFFu);
    CHECK(got.at("census") == "bsp_apic_id=" + bsp + " enabled=" + std::to_string(enabled.size()) +
                                  " added=" + std::to_string(added) +
                                  " not_added=" + std::to_string(left_out) + " placeholders=" +
                                  std::to_string(placeholders) + " walk=ok");
    CHECK(got.at("duplicate_apic_ids") == count_and_ids(enabled_entries - enabled.size(), dup_ids));
    CHECK(got.at("duplicate_apic_ids_incl_disabled") == count_and_ids(entries - all.size(), dup_ids_all));
    CHECK(got.at("xapic_unaddressable_apic_ids") == count_and_ids(wide_ids.size(), wide_ids));
    CHECK(got.at("disabled") == std::to_string(disabled));
    CHECK(got.at("online_capable") == std::to_string(online_capable));
    const std::string safe = got.at("broadcast_safe");
    CHECK((safe == "yes") == (disabled == 0 && online_capable == 0 && left_out == 0));
    CHECK(got.size() == 7);
  }
}

TEST_CASE("inspector census of real tables, line by line") {
  auto census = [](const char* stem) {
    const std::string bytes = slurp(madt_name(std::string(stem) + ".apic.dat"));
    return census_of(bytes);
  };
  SUBCASE("iMac: the BSP's ID 0 listed again in four disabled entries") {
    CHECK(census(kImac) ==
          "# census: bsp_apic_id=0 enabled=4 added=4 not_added=0 placeholders=0 walk=ok\n"
          "# duplicate_apic_ids: 0\n"
          "# duplicate_apic_ids_incl_disabled: 4 (0)\n"
          "# xapic_unaddressable_apic_ids: 0\n"
          "# disabled: 4\n"
          "# online_capable: 0\n"
          "# broadcast_safe: no (4 disabled)\n");
  }
  SUBCASE("X299: 36 placeholders, and 56 disabled x2APIC entries all with ID 0xFFFFFFFF") {
    CHECK(census(kX299) ==
          "# census: bsp_apic_id=0 enabled=20 added=20 not_added=0 placeholders=36 walk=ok\n"
          "# duplicate_apic_ids: 0\n"
          "# duplicate_apic_ids_incl_disabled: 55 (4294967295)\n"
          "# xapic_unaddressable_apic_ids: 0\n"
          "# disabled: 56\n"
          "# online_capable: 0\n"
          "# broadcast_safe: no (56 disabled)\n");
  }
  SUBCASE("ThinkPad L380: placeholders alone do not make broadcast unsafe") {
    CHECK(census_lines(census(kL380)).at("broadcast_safe") == "yes");
    CHECK(census_lines(census(kL380)).at("census").find(" placeholders=8 ") != std::string::npos);
  }
  SUBCASE("Prestige 13: eight enabled x2APIC entries, nothing else") {
    CHECK(census(kPrestige) ==
          "# census: bsp_apic_id=0 enabled=8 added=8 not_added=0 placeholders=0 walk=ok\n"
          "# duplicate_apic_ids: 0\n"
          "# duplicate_apic_ids_incl_disabled: 0\n"
          "# xapic_unaddressable_apic_ids: 0\n"
          "# disabled: 0\n"
          "# online_capable: 0\n"
          "# broadcast_safe: yes\n");
  }
}

TEST_CASE("inspector census of real tables edited to show what the shared corpus lacks") {
  // The shared corpus has no repeated enabled ID, no ID above 0xFE and no online-capable
  // entry, so the Prestige 13 table (type-9 entries at 44 + 16 * i: ID at +4, flags at +8)
  // is edited to have each.
  SUBCASE("an enabled twin, an ID only x2APIC can address, an online-capable CPU") {
    const std::string bytes = patched(kPrestige, {{44 + 16 * 5 + 8, 2},        // 66: online capable
                                                  {44 + 16 * 6 + 4, 8},        // 68 -> 8, a twin
                                                  {44 + 16 * 7 + 4, 0x100}});  // 70 -> 256
    CHECK(census_of(bytes) ==
          "# census: bsp_apic_id=0 enabled=6 added=6 not_added=0 placeholders=0 walk=ok\n"
          "# duplicate_apic_ids: 1 (8)\n"
          "# duplicate_apic_ids_incl_disabled: 1 (8)\n"
          "# xapic_unaddressable_apic_ids: 1 (256)\n"
          "# disabled: 0\n"
          "# online_capable: 1\n"
          "# broadcast_safe: no (1 online-capable)\n");
  }
  SUBCASE("the first entry disabled: the BSP is the first enabled one") {
    const std::string bytes = patched(kPrestige, {{44 + 8, 0}});
    const auto got = census_lines(census_of(bytes));
    CHECK(got.at("census") == "bsp_apic_id=8 enabled=7 added=7 not_added=0 placeholders=0 walk=ok");
    CHECK(got.at("broadcast_safe") == "no (1 disabled)");
  }
  SUBCASE("no enabled entry at all: no BSP and no enabled CPU") {
    std::vector<std::pair<size_t, uint32_t>> all_disabled;
    for (size_t i = 0; i < 8; ++i) all_disabled.push_back({44 + 16 * i + 8, 0});
    const auto got = census_lines(census_of(patched(kPrestige, all_disabled)));
    CHECK(got.at("census") == "bsp_apic_id=- enabled=0 added=0 not_added=0 placeholders=0 walk=ok");
    CHECK(got.at("disabled") == "8");
    CHECK(got.at("duplicate_apic_ids_incl_disabled") == "0");
  }
  SUBCASE("a malformed subtable list: the census of the entries before it, never safe") {
    std::string bytes = patched(kPrestige, {});
    bytes[44 + 16 * 2 + 1] = 1;  // third subtable's length byte
    const auto got = census_lines(census_of(bytes));
    CHECK(got.at("census") ==
          "bsp_apic_id=0 enabled=2 added=2 not_added=0 placeholders=0 walk=madt_subtable_too_short");
    CHECK(got.at("broadcast_safe") == "no (malformed subtable list)");
  }
  SUBCASE("a salvaged table (bad checksum) is never called safe") {
    const std::string bytes = slurp(madt_name(std::string(kPrestige) + ".apic.dat"));
    auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
    REQUIRE(madt.ok());
    const auto got = census_lines(
        smpboot::tools::madt_census_report(*madt, smpboot::Error::kMadtBadChecksum));
    CHECK(got.at("broadcast_safe") == "no (madt_bad_checksum)");
  }
}

TEST_CASE("MADT walker survives every truncation and subtable-length corruption") {
  for (const auto& path : files_ending(kData / "madt", ".apic.dat")) {
    INFO(path.filename().string());
    const std::string original = slurp(path);
    // Truncations: a buffer of exactly n bytes (ASan builds catch any read past it).
    for (size_t n = 0; n <= original.size(); n += (n < 64 ? 1 : 7)) {
      std::vector<uint8_t> buf(original.begin(), original.begin() + long(n));
      auto strict = smpboot::Madt::parse(buf.data(), buf.size());
      if (n < original.size()) CHECK_FALSE(strict.ok());
      if (auto m = smpboot::Madt::salvage(buf.data(), buf.size())) {
        uint32_t entries = 0;
        (void)m->for_each_cpu([&](const smpboot::MadtCpuEntry&) { ++entries; });
        CHECK(entries <= n / 8);
      }
    }
    // Corrupt the first subtable's length byte: the walk must end with a typed error or
    // cleanly, never loop or read outside the buffer.
    for (uint8_t bad_len : {uint8_t(0), uint8_t(1), uint8_t(5), uint8_t(255)}) {
      std::vector<uint8_t> buf(original.begin(), original.end());
      if (buf.size() <= 45) continue;
      buf[45] = bad_len;
      auto m = smpboot::Madt::parse(buf.data(), buf.size(), smpboot::MadtChecksum::kIgnore);
      REQUIRE(m.ok());
      uint32_t visits = 0;
      const auto walk = m->for_each_cpu([&](const smpboot::MadtCpuEntry&) { ++visits; });
      if (bad_len < 2) CHECK(walk.error() == smpboot::Error::kMadtSubtableTooShort);
      CHECK(visits <= buf.size() / 2);
    }
  }
}

TEST_CASE("CPUID decoders reproduce every expected row of the corpus") {
  const auto dumps = files_ending(kData / "cpuid", ".cpuid.txt");
  REQUIRE(dumps.size() >= 150);
  size_t rows_checked = 0;
  for (const auto& path : dumps) {
    INFO(path.filename().string());
    std::vector<smpboot::tools::CpuidDumpSection> sections;
    smpboot::tools::CpuidDumpError error;
    REQUIRE(smpboot::tools::parse_cpuid_dump(slurp(path), sections, error));
    const auto got = parse_tsv(smpboot::tools::cpuid_report(sections));
    std::string expected_path = path.string();
    expected_path.replace(expected_path.size() - 10, 10, ".expected.tsv");
    const auto want = parse_tsv(slurp(expected_path));
    REQUIRE(got.size() == want.size());
    // Compare by column name: the report has extra columns, the corpus has section_label.
    std::map<std::string, size_t> got_col;
    for (size_t i = 0; i < got[0].size(); ++i) got_col[got[0][i]] = i;
    for (size_t r = 1; r < want.size(); ++r) {
      for (size_t c = 0; c < want[0].size(); ++c) {
        const std::string& name = want[0][c];
        if (name == "section_label") continue;
        REQUIRE(got_col.count(name));
        INFO("cpu " << r - 1 << " column " << name);
        CHECK(got[r][got_col[name]] == want[r][c]);
      }
      ++rows_checked;
    }
  }
  CHECK(rows_checked > 1000);
}

TEST_CASE("APIC-ID chain and topology agree with the corpus where the leaves exist") {
  for (const auto& path : files_ending(kData / "cpuid", ".cpuid.txt")) {
    INFO(path.filename().string());
    std::vector<smpboot::tools::CpuidDumpSection> sections;
    smpboot::tools::CpuidDumpError error;
    REQUIRE(smpboot::tools::parse_cpuid_dump(slurp(path), sections, error));
    for (const auto& s : sections) {
      smpboot::tools::DumpCpuid c{&s};
      auto chained = smpboot::cpuid_chain_apic_id(c);
      if (!chained) continue;
      const auto topo = smpboot::decode_topology(c);
      // The three fields put back together give the ID again.
      const uint32_t id = chained->id.value;
      const uint64_t rebuilt = (uint64_t{topo.package_id(chained->id)} << topo.package_shift) |
                               (uint64_t{topo.core_id(chained->id)} << topo.smt_shift) |
                               topo.smt_id(chained->id);
      CHECK(rebuilt == id);
      CHECK(topo.smt_shift <= topo.package_shift);
    }
  }
}
