// Turning MADT entries into the set of CPUs to manage, with the oddities real firmware has
// (seen in the corpus in tests/data/madt): type-0 placeholders with APIC ID 0xFF, the same
// APIC ID repeated among disabled entries, and one CPU listed both as type 0 and type 9.
// Policy (documented in docs/architecture.md): enabled entries become CPUs, first occurrence
// of an APIC ID wins; disabled and online-capable entries are counted, not started; the BSP
// is always CPU index 0 even when the MADT lists it elsewhere. Linear in the number of
// entries, with no heap and 2 KiB of stack.
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
  uint32_t xapic_unaddressable = 0;  // distinct enabled APIC IDs above 0xFE (the BSP included):
                                     // xAPIC's 8-bit destination cannot reach them, x2APIC can
  bool bsp_in_madt = false;
  // Repeats of an enabled APIC ID are found through the table for CPUs that got a record, and
  // through a fixed set of kLeftOutIdsTracked IDs for CPUs left out. When more distinct IDs
  // than that were left out, a repeat of an ID that did not fit counts as a new CPU: enabled,
  // not_added and xapic_unaddressable are then upper bounds and duplicates a lower bound, all
  // off by the repeats missed. The table, added, and whether any CPU was left out stay exact.
  bool left_out_approximate = false;
  Error walk_error = Error::kNone;  // the MADT ended in a malformed subtable
};

namespace detail {

// The APIC IDs of enabled CPUs left out so far: open addressing with linear probing (the
// table's own Fibonacci hash), at most 3/4 full so every probe ends at an empty slot. It lives
// on the BSP's stack, hence fixed and small: 512 slots, 2 KiB.
class LeftOutApicIds {
 public:
  static constexpr uint32_t kSlotBits = 9;
  static constexpr uint32_t kSlotCount = 1u << kSlotBits;
  static constexpr uint32_t kCapacity = kSlotCount / 4 * 3;

  enum class Insert : uint8_t { kNew, kSeen, kFull };

  constexpr LeftOutApicIds() noexcept {
    for (auto& s : slots_) s = kEmptySlot;
  }

  // kFull: the ID is not in the set and there is no room to remember it.
  constexpr Insert insert(ApicId id) noexcept {
    if (id == kBroadcastX2ApicId) {  // the empty-slot value is tracked apart
      const bool seen = broadcast_seen_;
      broadcast_seen_ = true;
      return seen ? Insert::kSeen : Insert::kNew;
    }
    uint32_t slot = apic_index::home_slot(id.value, kSlotBits);
    while (slots_[slot] != kEmptySlot) {
      if (slots_[slot] == id.value) return Insert::kSeen;
      slot = (slot + 1) & (kSlotCount - 1);
    }
    if (count_ == kCapacity) return Insert::kFull;
    slots_[slot] = id.value;
    ++count_;
    return Insert::kNew;
  }

 private:
  static constexpr uint32_t kEmptySlot = kBroadcastX2ApicId.value;
  uint32_t slots_[kSlotCount];
  uint32_t count_ = 0;
  bool broadcast_seen_ = false;
};

// add_cpus_from_madt over anything with Madt's for_each_cpu: the seam through which the unit
// tests count the entries a census visits.
template <uint32_t Capacity, class CpuEntries>
MadtCpuCensus add_cpus_from_entries(CpuTable<Capacity>& table, const CpuEntries& madt,
                                    ApicId bsp, uint32_t max_cpus,
                                    const Topology* topology) noexcept {
  MadtCpuCensus census;
  if (max_cpus == 0) max_cpus = 1;  // the BSP always runs
  if (!table.find(bsp) && table.add(bsp)) ++census.added;
  // Pass 0 counts the placeholder, disabled and online-capable entries and decides the enabled
  // entries of the BSP and the primary threads (of every CPU, without a topology); pass 1
  // decides the SMT siblings'. All entries of one APIC ID are decided in the same pass, so the
  // first of them is decided first, and a repeat finds its ID in the table or, if that CPU was
  // left out, in `left_out`: no entry ever looks back at the entries before it.
  const bool two_passes = topology != nullptr && topology->smt_shift > 0;
  auto pass_of = [&](ApicId id) {
    return two_passes && id != bsp && !topology->is_primary_thread(id) ? 1 : 0;
  };
  auto count_new_enabled = [&](ApicId id) {
    ++census.enabled;
    if (id.value >= kBroadcastXApicId.value) ++census.xapic_unaddressable;
  };
  LeftOutApicIds left_out;
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
      if (pass_of(e.apic_id) != pass) return;
      if (e.apic_id == bsp) {
        if (census.bsp_in_madt) { ++census.duplicates; return; }
        census.bsp_in_madt = true;
        if (CpuRecord* r = table.find_record(bsp)) r->set_madt_entry(e.type, e.uid, e.flags);
        count_new_enabled(e.apic_id);
        return;
      }
      if (table.find(e.apic_id)) { ++census.duplicates; return; }
      // Not in the table, so either new or a repeat of a CPU left out. A CPU left out stays
      // out (the table only grows, and max_cpus, a full table and the broadcast ID stay
      // refused), so an add that succeeds is a new CPU.
      if (table.size() < max_cpus && table.add(e.apic_id)) {
        table.find_record(e.apic_id)->set_madt_entry(e.type, e.uid, e.flags);
        ++census.added;
        count_new_enabled(e.apic_id);
        return;
      }
      switch (left_out.insert(e.apic_id)) {
        case LeftOutApicIds::Insert::kSeen: ++census.duplicates; return;
        case LeftOutApicIds::Insert::kFull: census.left_out_approximate = true; break;
        case LeftOutApicIds::Insert::kNew: break;
      }
      ++census.not_added;
      count_new_enabled(e.apic_id);
    });
  }
  census.walk_error = walk.error();
  if (!census.bsp_in_madt) count_new_enabled(bsp);
  return census;
}

}  // namespace detail

inline constexpr uint32_t kLeftOutIdsTracked = detail::LeftOutApicIds::kCapacity;

// Adds the BSP first, then every other enabled CPU in table order, up to `max_cpus` in total.
// With a known topology, primary threads (SMT ID 0) come before their SMT siblings, so a
// max_cpus limit keeps one thread per core first, as Linux does ("primary threads first").
template <uint32_t Capacity>
MadtCpuCensus add_cpus_from_madt(CpuTable<Capacity>& table, const Madt& madt, ApicId bsp,
                                 uint32_t max_cpus = Capacity,
                                 const Topology* topology = nullptr) noexcept {
  return detail::add_cpus_from_entries(table, madt, bsp, max_cpus, topology);
}

}  // namespace smpboot
