// The real-world corpus in tests/data: 210 MADTs from linuxhw/ACPI and 160 CPUID dumps from
// libcpuid, each with expected values computed independently from the specifications. The
// MADT walker and the CPUID decoders must agree with every row, and the walker must survive
// every truncation and subtable-length corruption of every real table.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <fstream>
#include <iterator>
#include <map>
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
