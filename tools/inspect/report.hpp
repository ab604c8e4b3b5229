// The inspector's two reports as strings, shared by smpboot-inspect and the corpus tests so
// the tests check exactly what users see. Column names and value formats follow the corpus
// READMEs (tests/data/madt/README.md, tests/data/cpuid/README.md).
#pragma once

#include <smpboot/smpboot.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cpuid_dump.hpp"

namespace smpboot::tools {

inline constexpr const char* kMadtColumns =
    "index\toffset\ttype\tuid\tapic_id\tflags\tenabled\tonline_capable";

// Rows for every type-0/9 entry; returns the walk's status (rows before an error are kept).
inline Status madt_report(const Madt& madt, std::string& out) {
  out = std::string(kMadtColumns) + "\n";
  return madt.for_each_cpu([&](const MadtCpuEntry& e) {
    char line[160];
    std::snprintf(line, sizeof line, "%u\t%u\t%u\t%u\t%u\t0x%08X\t%d\t%d\n", e.index, e.offset,
                  unsigned(e.type), e.uid.value, e.apic_id.value, e.flags, e.enabled() ? 1 : 0,
                  e.online_capable() ? 1 : 0);
    out += line;
  });
}

// The census add_cpus_from_madt takes of a table, and the APIC IDs behind its counts. The
// inspector cannot know the BSP or a kernel's max_cpus, so it assumes what ACPI asks of
// firmware (the boot processor is the first enabled entry) and gives every enabled CPU a record.
struct MadtCensusText {
  MadtCpuCensus census;
  bool has_bsp = false;  // false: no enabled entry, so no BSP and no census of enabled CPUs
  ApicId bsp{0};
  std::vector<uint32_t> duplicate_ids;         // enabled IDs listed more than once
  uint32_t repeats_incl_disabled = 0;          // entries repeating an earlier entry's ID
  std::vector<uint32_t> duplicate_ids_incl_disabled;
  std::vector<uint32_t> xapic_unaddressable_ids;  // enabled IDs above 0xFE
};

inline MadtCensusText madt_census(const Madt& madt) {
  MadtCensusText t;
  uint32_t entries = 0;
  std::map<uint32_t, uint32_t> enabled_seen, all_seen;  // APIC ID -> entries listing it
  (void)madt.for_each_cpu([&](const MadtCpuEntry& e) {
    ++entries;
    if (e.placeholder()) return;
    ++all_seen[e.apic_id.value];
    if (!e.enabled()) return;
    if (!t.has_bsp) {
      t.has_bsp = true;
      t.bsp = e.apic_id;
    }
    ++enabled_seen[e.apic_id.value];
  });
  for (const auto& [id, n] : enabled_seen) {
    if (n > 1) t.duplicate_ids.push_back(id);
    if (id >= kBroadcastXApicId.value) t.xapic_unaddressable_ids.push_back(id);
  }
  for (const auto& [id, n] : all_seen) {
    if (n < 2) continue;
    t.duplicate_ids_incl_disabled.push_back(id);
    t.repeats_incl_disabled += n - 1;
  }
  // A table large enough for every entry, so no CPU is left out (a 64 KiB MADT has at most
  // 8192 CPU entries; a larger one is reported as not_added past 65536).
  auto run = [&](auto table) {
    t.census = add_cpus_from_madt(*table, madt, t.has_bsp ? t.bsp : kBroadcastX2ApicId);
  };
  if (entries < 4096) {
    run(std::make_unique<CpuTable<4096>>());
  } else {
    run(std::make_unique<CpuTable<65536>>());
  }
  if (!t.has_bsp) {
    // With no enabled entry, the only "enabled CPU" would be the made-up BSP: count none.
    t.census.enabled = t.census.added = t.census.xapic_unaddressable = 0;
  }
  return t;
}

// The census as lines starting with '#', printed after the rows (TSV readers skip them as
// comments). Each line is `# name: value`; a count may be followed by the APIC IDs it concerns,
// ascending, in parentheses. `table_error` says the table was salvaged (bad checksum, or Length
// past the file): entries may be missing or wrong, so broadcast is never called safe.
inline std::string madt_census_report(const Madt& madt, Error table_error = Error::kNone) {
  const MadtCensusText t = madt_census(madt);
  const MadtCpuCensus& c = t.census;
  auto ids = [](const std::vector<uint32_t>& v) {
    if (v.empty()) return std::string();
    std::string s = " (";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
    return s + ")";
  };
  auto line = [](const char* name, const std::string& value) {
    return std::string("# ") + name + ": " + value + "\n";
  };
  auto num = [](uint32_t v) { return std::to_string(v); };
  std::string out = line(
      "census", std::string("bsp_apic_id=") + (t.has_bsp ? num(t.bsp.value) : "-") +
                    " enabled=" + num(c.enabled) + " added=" + num(c.added) +
                    " not_added=" + num(c.not_added) + " placeholders=" + num(c.placeholders) +
                    (c.left_out_approximate ? " left_out_approximate=1" : "") +
                    " walk=" + (c.walk_error == Error::kNone ? "ok" : error_name(c.walk_error)));
  out += line("duplicate_apic_ids", num(c.duplicates) + ids(t.duplicate_ids));
  out += line("duplicate_apic_ids_incl_disabled",
              num(t.repeats_incl_disabled) + ids(t.duplicate_ids_incl_disabled));
  out += line("xapic_unaddressable_apic_ids",
              num(c.xapic_unaddressable) + ids(t.xapic_unaddressable_ids));
  out += line("disabled", num(c.disabled));
  out += line("online_capable", num(c.online_capable));
  std::vector<std::string> why;
  if (c.not_added) why.push_back(num(c.not_added) + " enabled left out");
  if (c.disabled) why.push_back(num(c.disabled) + " disabled");
  if (c.online_capable) why.push_back(num(c.online_capable) + " online-capable");
  if (c.walk_error != Error::kNone) why.push_back("malformed subtable list");
  if (table_error != Error::kNone) why.push_back(error_name(table_error));
  std::string safe = broadcast_is_safe(c) && table_error == Error::kNone ? "yes" : "no";
  for (size_t i = 0; i < why.size(); ++i) safe += (i ? ", " : " (") + why[i];
  if (!why.empty()) safe += ")";
  out += line("broadcast_safe", safe);
  return out;
}

inline constexpr const char* kCpuidColumns =
    "cpu\tapic_id_01\thtt\tmaxlp_01\tx2apic_id_0B\tx2apic_id_1F\tlevels_0B\tlevels_1F\t"
    "ext_apic_id_8000001E\tcu_id_8000001E\tthreads_per_cu_8000001E\tnode_id_8000001E\t"
    "apic_core_id_size_80000008\tnc_80000008\tchain_leaf\tchain_apic_id\ttopology_source\t"
    "package_id\tcore_id\tsmt_id";

inline std::string levels_text(const Result<TopologyLevels>& levels) {
  if (!levels) return "-";
  std::string s;
  for (uint32_t i = 0; i < levels->count; ++i) {
    if (i) s += ',';
    const char* name = topology_level_name(levels->type[i]);
    s += name ? std::string(name) : "T" + std::to_string(unsigned(levels->type[i]));
    s += ':' + std::to_string(levels->shift[i]);
  }
  return s.empty() ? "-" : s;
}

// One row of the CPUID report for one logical CPU of a dump.
inline std::string cpuid_row(size_t cpu, const CpuidDumpSection& section) {
  DumpCpuid c{&section};
  std::vector<std::string> col;
  auto num = [](uint64_t v) { return std::to_string(v); };
  col.push_back(num(cpu));
  const bool has01 = cpuid_query::leaf01_valid(c) && section.has(Leaf01::kLeaf);
  const Leaf01 l1{c};
  col.push_back(has01 ? num(l1.initial_apic_id()) : "-");
  col.push_back(has01 ? num(l1.htt()) : "-");
  col.push_back(has01 ? num(l1.max_logical_ids()) : "-");
  auto x2id = [&](TopologyLeaf l) {
    return cpuid_query::extended_topology_valid(c, l) ? num(TopologyLevel{c, l, 0}.x2apic_id())
                                                      : std::string("-");
  };
  col.push_back(x2id(TopologyLeaf::k0B));
  col.push_back(x2id(TopologyLeaf::k1F));
  col.push_back(levels_text(enumerate_topology_levels(c, TopologyLeaf::k0B)));
  col.push_back(levels_text(enumerate_topology_levels(c, TopologyLeaf::k1F)));
  if (cpuid_query::amd_extended_apic_id_valid(c)) {
    const Leaf8000001E e{c};
    col.push_back(num(e.extended_apic_id()));
    col.push_back(num(e.compute_unit_id()));
    col.push_back(num(e.threads_per_compute_unit()));
    col.push_back(num(e.node_id()));
  } else {
    col.insert(col.end(), 4, "-");
  }
  if (cpuid_query::max_extended_leaf(c) >= Leaf80000008::kLeaf &&
      section.has(Leaf80000008::kLeaf)) {
    const Leaf80000008 e{c};
    col.push_back(num(e.apic_id_core_id_size()));
    col.push_back(num(e.nc()));
  } else {
    col.insert(col.end(), 2, "-");
  }
  const auto chained = cpuid_chain_apic_id(c);
  const Topology topo = decode_topology(c);
  if (chained) {
    col.push_back(id_source_name(chained->leaf));
    col.push_back(num(chained->id.value));
    col.push_back(topology_source_name(topo.source));
    col.push_back(num(topo.package_id(chained->id)));
    col.push_back(num(topo.core_id(chained->id)));
    col.push_back(num(topo.smt_id(chained->id)));
  } else {
    col.insert(col.end(), 6, "-");
  }
  std::string row;
  for (size_t i = 0; i < col.size(); ++i) row += (i ? "\t" : "") + col[i];
  return row;
}

inline std::string cpuid_report(const std::vector<CpuidDumpSection>& sections) {
  std::string out = std::string(kCpuidColumns) + "\n";
  for (size_t i = 0; i < sections.size(); ++i) out += cpuid_row(i, sections[i]) + "\n";
  return out;
}

}  // namespace smpboot::tools
