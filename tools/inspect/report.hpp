// The inspector's two reports as strings, shared by smpboot-inspect and the corpus tests so
// the tests check exactly what users see. Column names and value formats follow the corpus
// READMEs (tests/data/madt/README.md, tests/data/cpuid/README.md).
#pragma once

#include <smpboot/smpboot.hpp>

#include <cstdio>
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
    s += name ? std::string(name) : "T" + std::to_string(levels->type[i]);
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
  const bool has01 = cpuid_query::leaf01_valid(c) && section.has(leaf::kFeatures);
  const Leaf01 l1{c.cpuid(leaf::kFeatures, 0)};
  col.push_back(has01 ? num(l1.initial_apic_id()) : "-");
  col.push_back(has01 ? num(l1.htt()) : "-");
  col.push_back(has01 ? num(l1.max_logical_ids()) : "-");
  auto x2id = [&](uint32_t l) {
    return cpuid_query::extended_topology_valid(c, l) ? num(c.cpuid(l, 0).edx) : std::string("-");
  };
  col.push_back(x2id(leaf::kTopology));
  col.push_back(x2id(leaf::kTopologyV2));
  col.push_back(levels_text(enumerate_topology_levels(c, leaf::kTopology)));
  col.push_back(levels_text(enumerate_topology_levels(c, leaf::kTopologyV2)));
  if (cpuid_query::amd_extended_apic_id_valid(c)) {
    const Leaf8000001E e{c.cpuid(leaf::kAmdExtApicId, 0)};
    col.push_back(num(e.extended_apic_id()));
    col.push_back(num(e.compute_unit_id()));
    col.push_back(num(e.threads_per_compute_unit()));
    col.push_back(num(e.node_id()));
  } else {
    col.insert(col.end(), 4, "-");
  }
  if (cpuid_query::max_extended_leaf(c) >= leaf::kAmdSizeIds && section.has(leaf::kAmdSizeIds)) {
    const Leaf80000008 e{c.cpuid(leaf::kAmdSizeIds, 0)};
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
