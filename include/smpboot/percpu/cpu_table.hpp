// A fixed-capacity table of CPU records with a lock-free APIC ID -> CPU lookup. The BSP fills
// it completely before any AP is woken and never changes the index afterwards, so an AP can
// look itself up with plain loads (the trampoline does the same in asm). The index is open
// addressing with linear probing over a power-of-two slot array at most half full; a slot
// holds the APIC ID in its low 32 bits and the CPU index + 1 in its high 32 bits, so an
// all-zero slot is empty and an all-zero table is a valid empty one: `constinit` puts it in
// .bss, not .data (a CpuTable<256> would otherwise carry 37 KB of 0xFF bytes in the image).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/result.hpp"
#include "../core/types.hpp"
#include "cpu_record.hpp"

namespace smpboot {

namespace apic_index {
// A slot is (index + kIndexBias) << 32 | APIC ID. Emptiness is the high half alone, checked
// before the ID: the ID half of an empty slot (0) is a real CPU's ID.
inline constexpr uint64_t kEmptySlot = 0;
inline constexpr uint32_t kIndexBias = 1;
inline constexpr uint32_t kHashMultiplier = 0x9E37'79B1u;  // Fibonacci hashing (Knuth 6.4)

constexpr uint64_t make_slot(ApicId id, CpuIndex index) noexcept {
  return uint64_t{id.value} | (uint64_t{index.value + kIndexBias} << 32);
}
constexpr bool slot_empty(uint64_t slot) noexcept { return uint32_t(slot >> 32) == 0; }
constexpr uint32_t slot_apic_id(uint64_t slot) noexcept { return uint32_t(slot); }
constexpr CpuIndex slot_index(uint64_t slot) noexcept {
  return CpuIndex{uint32_t(slot >> 32) - kIndexBias};
}

constexpr uint32_t slot_bits_for(uint32_t capacity) noexcept {
  uint32_t b = 1;
  while ((uint64_t{1} << b) < uint64_t{capacity} * 2) ++b;
  return b;
}
// The asm lookup does exactly this: imul by the multiplier (32-bit), shift right.
constexpr uint32_t home_slot(uint32_t apic_id, uint32_t slot_bits) noexcept {
  return uint32_t(apic_id * kHashMultiplier) >> (32 - slot_bits);
}
}  // namespace apic_index

template <uint32_t Capacity>
class CpuTable {
  static_assert(Capacity >= 1 && Capacity <= (1u << 20), "capacity out of range");

 public:
  static constexpr uint32_t kCapacity = Capacity;
  static constexpr uint32_t kSlotBits = apic_index::slot_bits_for(Capacity);
  static constexpr uint32_t kSlotCount = 1u << kSlotBits;

  // Every member zero: see the file comment.
  constexpr CpuTable() noexcept { clear(); }
  CpuTable(const CpuTable&) = delete;
  CpuTable& operator=(const CpuTable&) = delete;

  constexpr void clear() noexcept {
    count_ = 0;
    for (auto& s : slots_) s = apic_index::kEmptySlot;
  }

  // BSP only, before any AP runs. The broadcast IDs are refused: nothing can be sent to them.
  Result<CpuIndex> add(ApicId id) noexcept {
    if (id == kBroadcastX2ApicId) return Error::kApicIdNotInTable;
    if (find(id)) return Error::kDuplicateApicId;
    if (count_ == Capacity) return Error::kTableFull;
    const CpuIndex index{count_++};
    records_[index.value].reset(id, index);
    uint32_t slot = apic_index::home_slot(id.value, kSlotBits);
    while (!apic_index::slot_empty(slots_[slot])) slot = (slot + 1) & (kSlotCount - 1);
    slots_[slot] = apic_index::make_slot(id, index);
    return index;
  }

  // Safe on any CPU once the table is complete. The x2APIC broadcast ID (SDM Vol. 3A 11.12.9
  // "ICR Operation in x2APIC Mode") is never a CPU: it is what a junk ID read returns.
  Result<CpuIndex> find(ApicId id) const noexcept {
    if (id == kBroadcastX2ApicId) return Error::kApicIdNotInTable;
    uint32_t slot = apic_index::home_slot(id.value, kSlotBits);
    for (uint32_t probes = 0; probes < kSlotCount; ++probes) {
      const uint64_t entry = slots_[slot];
      if (apic_index::slot_empty(entry)) break;
      if (apic_index::slot_apic_id(entry) == id.value) return apic_index::slot_index(entry);
      slot = (slot + 1) & (kSlotCount - 1);
    }
    return Error::kApicIdNotInTable;
  }

  CpuRecord* find_record(ApicId id) noexcept {
    auto i = find(id);
    return i ? &records_[i->value] : nullptr;
  }

  CpuRecord* record(CpuIndex i) noexcept { return i.value < count_ ? &records_[i.value] : nullptr; }
  const CpuRecord* record(CpuIndex i) const noexcept {
    return i.value < count_ ? &records_[i.value] : nullptr;
  }
  CpuRecord& operator[](uint32_t i) noexcept { return records_[i]; }
  const CpuRecord& operator[](uint32_t i) const noexcept { return records_[i]; }
  uint32_t size() const noexcept { return count_; }

  CpuRecord* begin() noexcept { return records_; }
  CpuRecord* end() noexcept { return records_ + count_; }
  const CpuRecord* begin() const noexcept { return records_; }
  const CpuRecord* end() const noexcept { return records_ + count_; }

  // What the trampoline needs to do the same lookup in asm.
  const uint64_t* slots() const noexcept { return slots_; }
  CpuRecord* records() noexcept { return records_; }

  uint32_t count_in(CpuState s) const noexcept {
    uint32_t n = 0;
    for (const auto& r : *this) n += r.load_state() == s;
    return n;
  }

 private:
  CpuRecord records_[Capacity];
  uint64_t slots_[kSlotCount];
  uint32_t count_ = 0;
};

}  // namespace smpboot
