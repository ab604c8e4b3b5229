// Turning MADT entries into the set of CPUs to manage, with the oddities real firmware has
// (seen in the corpus in tests/data/madt): type-0 placeholders with APIC ID 0xFF, the same
// APIC ID repeated among disabled entries, and one CPU listed both as type 0 and type 9.
// Policy (documented in docs/architecture.md): enabled entries become CPUs, first occurrence
// of an APIC ID wins; disabled and online-capable entries are counted, not started; the BSP
// is always CPU index 0 even when the MADT lists it elsewhere.
#pragma once

#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../percpu/cpu_table.hpp"
#include "madt.hpp"
#include "topology.hpp"

namespace smpboot {

struct MadtCpuCensus {
  uint32_t enabled = 0;          // distinct enabled APIC IDs (the BSP included)
  uint32_t added = 0;            // records created (may be fewer: max_cpus, table full)
  uint32_t online_capable = 0;   // disabled now, may be hot-added later (ACPI 6.3+)
  uint32_t disabled = 0;         // neither enabled nor online capable
  uint32_t placeholders = 0;     // type-0 APIC ID 0xFF
  uint32_t duplicates = 0;       // an APIC ID seen again (incl. type 0 + type 9 twins)
  uint32_t not_added = 0;        // enabled but left out (max_cpus or capacity)
  bool bsp_in_madt = false;
  Error walk_error = Error::kNone;  // the MADT ended in a malformed subtable
};

// Adds the BSP first, then every other enabled CPU in table order, up to `max_cpus` in total.
// With a known topology, primary threads (SMT ID 0) come before their SMT siblings, so a
// max_cpus limit keeps one thread per core first, as Linux does ("primary threads first").
template <uint32_t Capacity>
MadtCpuCensus add_cpus_from_madt(CpuTable<Capacity>& table, const Madt& madt, ApicId bsp,
                                 uint32_t max_cpus = Capacity,
                                 const Topology* topology = nullptr) noexcept {
  MadtCpuCensus census;
  if (max_cpus == 0) max_cpus = 1;  // the BSP always runs
  if (!table.find(bsp) && table.add(bsp)) ++census.added;
  // A second pass over the entries seen so far finds duplicates without any extra storage.
  // Pass 0 counts everything and adds primaries (or everyone without a topology); pass 1
  // adds the SMT siblings.
  const bool two_passes = topology != nullptr && topology->smt_shift > 0;
  auto wanted_in_pass = [&](ApicId id, int pass) {
    if (!two_passes) return pass == 0;
    return topology->is_primary_thread(id) == (pass == 0);
  };
  Status walk;
  for (int pass = 0; pass < (two_passes ? 2 : 1); ++pass) {
  walk = madt.for_each_cpu([&](const MadtCpuEntry& e) {
    if (e.placeholder()) { census.placeholders += pass == 0; return; }
    if (!e.enabled()) {
      if (pass == 0) {
        if (e.online_capable()) ++census.online_capable; else ++census.disabled;
      }
      return;
    }
    // Duplicate? An ID already in the table was added by an earlier entry (or in pass 0),
    // except the BSP's own first entry. Only IDs not in the table need a look back at the
    // entries before this one, so the walk stays linear unless CPUs are left out.
    bool seen_before;
    if (e.apic_id == bsp) {
      seen_before = census.bsp_in_madt && pass == 0;
    } else if (table.find(e.apic_id)) {
      seen_before = true;
    } else {
      seen_before = false;
      (void)madt.for_each_cpu([&](const MadtCpuEntry& earlier) {
        if (earlier.index < e.index && earlier.enabled() && !earlier.placeholder() &&
            earlier.apic_id == e.apic_id) seen_before = true;
      });
    }
    if (seen_before) { census.duplicates += pass == 0; return; }
    if (e.apic_id == bsp) {
      if (pass == 0) ++census.enabled;
      census.bsp_in_madt = true;
      return;
    }
    if (pass == 0) ++census.enabled;
    if (!wanted_in_pass(e.apic_id, pass)) return;
    if (table.size() >= max_cpus) { ++census.not_added; return; }
    if (table.add(e.apic_id)) ++census.added; else ++census.not_added;
  });
  }
  census.walk_error = walk.error();
  if (!census.bsp_in_madt) ++census.enabled;
  return census;
}

}  // namespace smpboot
