// Topology decoding: which bits of an APIC ID are the SMT, core and package IDs.
// Preferred: CPUID 1FH, then 0BH (SDM Vol. 3A 9.9 "Programming Considerations for Hardware
// Multi-Threading Capable Processors", 9.9.1-9.9.2). Fallbacks without those leaves: Intel
// 01H/04H ("legacy" 9.9.3: SMT width from max logical / max cores) and AMD 8000_0008h
// ApicIdCoreIdSize with 8000_001Eh threads per compute unit (APM Vol. 3, appendix E.5).
// Emulators bend the SDM (Bochs reports per-level, not cumulative, shifts); the decoder never
// trusts a shift to grow, it takes the widest seen so IDs still split into disjoint fields.
#pragma once

#include "../concepts/io.hpp"
#include "../core/bits.hpp"
#include "../hw/cpuid.hpp"
#include "apic_id.hpp"

namespace smpboot {

// Enumerated levels of one topology leaf, sub-leaf 0 upward until level type 0.
struct TopologyLevels {
  static constexpr uint32_t kMaxLevels = 8;  // the SDM defines 6 types; bounded against junk
  uint32_t count = 0;
  TopologyLevelType type[kMaxLevels] = {};
  uint8_t shift[kMaxLevels] = {};
};

template <CpuidSource C>
Result<TopologyLevels> enumerate_topology_levels(C& c, TopologyLeaf topology_leaf) noexcept {
  if (!cpuid_query::extended_topology_valid(c, topology_leaf)) return Error::kLeafUnavailable;
  TopologyLevels levels;
  for (uint32_t sub = 0; sub < TopologyLevels::kMaxLevels; ++sub) {
    const TopologyLevel level{c, topology_leaf, sub};
    if (level.terminal()) break;
    levels.type[levels.count] = level.type();
    levels.shift[levels.count] = level.shift();
    ++levels.count;
  }
  return levels;
}

enum class TopologySource : uint8_t { kNone, kLeaf1F, kLeaf0B, kIntelLegacy, kAmdLegacy };

constexpr const char* topology_source_name(TopologySource s) noexcept {
  switch (s) {
    case TopologySource::kLeaf1F: return "1F";
    case TopologySource::kLeaf0B: return "0B";
    case TopologySource::kIntelLegacy: return "intel_legacy";
    case TopologySource::kAmdLegacy: return "amd_legacy";
    case TopologySource::kNone: return "none";
  }
  return "none";
}

struct Topology {
  TopologySource source = TopologySource::kNone;
  uint8_t smt_shift = 0;      // SMT ID = APIC ID bits [0, smt_shift)
  uint8_t package_shift = 0;  // core ID = bits [smt_shift, package_shift); package = the rest

  constexpr uint32_t smt_id(ApicId id) const noexcept {
    return uint32_t(bits(id.value, 0, smt_shift));
  }
  constexpr uint32_t core_id(ApicId id) const noexcept {
    return uint32_t(bits(id.value, smt_shift, unsigned(package_shift - smt_shift)));
  }
  constexpr uint32_t package_id(ApicId id) const noexcept {
    return package_shift >= 32 ? 0 : id.value >> package_shift;
  }
  // The first thread of a core: what "primaries before SMT siblings" means.
  constexpr bool is_primary_thread(ApicId id) const noexcept { return smt_id(id) == 0; }
};

constexpr uint8_t ceil_log2(uint32_t n) noexcept {
  uint8_t width = 0;
  while (width < 32 && (uint64_t{1} << width) < n) ++width;
  return width;
}
static_assert(ceil_log2(0) == 0 && ceil_log2(1) == 0 && ceil_log2(2) == 1 && ceil_log2(3) == 2 &&
              ceil_log2(8) == 3 && ceil_log2(9) == 4);

constexpr Topology topology_from_levels(const TopologyLevels& levels, TopologySource source) noexcept {
  Topology t{source, 0, 0};
  uint8_t widest = 0;
  for (uint32_t i = 0; i < levels.count; ++i) {
    if (levels.type[i] == TopologyLevelType::kSmt) t.smt_shift = levels.shift[i];
    if (levels.shift[i] > widest) widest = levels.shift[i];
  }
  t.package_shift = widest < t.smt_shift ? t.smt_shift : widest;
  return t;
}

template <CpuidSource C>
Topology decode_topology(C& c) noexcept {
  if (auto l = enumerate_topology_levels(c, TopologyLeaf::k1F)) {
    return topology_from_levels(*l, TopologySource::kLeaf1F);
  }
  if (auto l = enumerate_topology_levels(c, TopologyLeaf::k0B)) {
    return topology_from_levels(*l, TopologySource::kLeaf0B);
  }
  if (!cpuid_query::leaf01_valid(c)) return {};
  const Leaf01 l1{c};
  const Vendor vendor = Leaf00{c}.vendor();
  if (vendor == Vendor::kAmd || vendor == Vendor::kHygon) {
    if (cpuid_query::max_extended_leaf(c) >= Leaf80000008::kLeaf) {
      const Leaf80000008 l8{c};
      uint8_t package_shift = l8.apic_id_core_id_size();
      if (package_shift == 0) package_shift = ceil_log2(l8.nc());  // pre-family-10h rule
      uint8_t smt_shift = 0;
      if (cpuid_query::amd_extended_apic_id_valid(c)) {
        smt_shift = ceil_log2(Leaf8000001E{c}.threads_per_compute_unit());
      }
      if (smt_shift > package_shift) smt_shift = package_shift;
      return {TopologySource::kAmdLegacy, smt_shift, package_shift};
    }
  }
  if (!l1.htt()) return {TopologySource::kIntelLegacy, 0, 0};  // one logical CPU per package
  const uint32_t max_logical = l1.max_logical_ids() == 0 ? 1 : l1.max_logical_ids();
  uint32_t max_cores = 1;
  if (vendor == Vendor::kIntel && cpuid_query::max_basic_leaf(c) >= Leaf04::kLeaf) {
    const Leaf04 l4{c};
    if (l4.valid()) max_cores = l4.max_core_ids();
  }
  // SDM legacy method: SMT width = log2(RoundUpPow2(max logical IDs) / max core IDs).
  const uint8_t package_shift = ceil_log2(max_logical);
  const uint8_t core_width = ceil_log2(max_cores);
  const uint8_t smt_shift = package_shift > core_width ? uint8_t(package_shift - core_width) : 0;
  return {TopologySource::kIntelLegacy, smt_shift, package_shift};
}

}  // namespace smpboot
