// APIC-ID sources: how a CPU learns its own APIC ID (Intel SDM Vol. 3A 9.4.5 "Identifying
// Logical Processors in an MP System"; Vol. 2A CPUID 01H/0BH/1FH; AMD APM Vol. 3 8000_001Eh).
// The default is the APIC ID register: firmware may renumber APIC IDs after reset, and CPUID
// reports only the *initial* ID (an AMD APU's MADT said 17/18/19 while CPUID said 1/2/3).
// CPUID sources are for kernels that must learn the ID before touching the APIC.
#pragma once

#include "../concepts/apic_id_source.hpp"
#include "../concepts/io.hpp"
#include "../concepts/local_apic.hpp"
#include "../hw/cpuid.hpp"

namespace smpboot {

namespace cpuid_query {

template <CpuidSource C>
uint32_t max_basic_leaf(C& c) noexcept { return Leaf00{c}.max_basic_leaf(); }

template <CpuidSource C>
uint32_t max_extended_leaf(C& c) noexcept { return Leaf80000000{c}.max_extended_leaf(); }

// Leaf 0BH or 1FH is usable when it is within the max basic leaf and sub-leaf 0 reports a
// non-zero logical-processor count (SDM Vol. 2A: "If EBX[15:0] = 0 ... the leaf is invalid").
template <CpuidSource C>
bool extended_topology_valid(C& c, TopologyLeaf topology_leaf) noexcept {
  if (max_basic_leaf(c) < uint32_t(topology_leaf)) return false;
  return TopologyLevel{c, topology_leaf, 0}.logical_processors() != 0;
}

template <CpuidSource C>
bool amd_extended_apic_id_valid(C& c) noexcept {
  if (max_extended_leaf(c) < Leaf8000001E::kLeaf) return false;
  return Leaf80000001{c}.topology_extensions();
}

template <CpuidSource C>
bool leaf01_valid(C& c) noexcept { return max_basic_leaf(c) >= Leaf01::kLeaf; }

}  // namespace cpuid_query

// The APIC ID register of the calling CPU's APIC (x2APIC MSR 0x802, or xAPIC ID[31:24]).
template <LocalApic Apic>
class ApicRegisterIdSource {
 public:
  static constexpr IdSourceKind kKind = IdSourceKind::kApicRegister;
  explicit ApicRegisterIdSource(Apic& apic) noexcept : apic_(&apic) {}
  Result<ApicId> current_apic_id() noexcept { return apic_->id(); }

 private:
  Apic* apic_;
};

// One CPUID leaf as the ID source; kLeafUnavailable if the CPU does not implement it.
template <CpuidSource C, IdSourceKind Kind>
class CpuidLeafIdSource {
 public:
  static constexpr IdSourceKind kKind = Kind;
  explicit CpuidLeafIdSource(C& cpuid) noexcept : cpuid_(&cpuid) {}

  Result<ApicId> current_apic_id() noexcept {
    C& c = *cpuid_;
    if constexpr (Kind == IdSourceKind::kCpuid1F || Kind == IdSourceKind::kCpuid0B) {
      const TopologyLeaf l = Kind == IdSourceKind::kCpuid1F ? TopologyLeaf::k1F : TopologyLeaf::k0B;
      if (!cpuid_query::extended_topology_valid(c, l)) return Error::kLeafUnavailable;
      return ApicId{TopologyLevel{c, l, 0}.x2apic_id()};
    } else if constexpr (Kind == IdSourceKind::kCpuid8000001E) {
      if (!cpuid_query::amd_extended_apic_id_valid(c)) return Error::kLeafUnavailable;
      return ApicId{Leaf8000001E{c}.extended_apic_id()};
    } else {
      static_assert(Kind == IdSourceKind::kCpuid01, "not a single-leaf source");
      if (!cpuid_query::leaf01_valid(c)) return Error::kLeafUnavailable;
      return ApicId{Leaf01{c}.initial_apic_id()};
    }
  }

 private:
  C* cpuid_;
};

template <CpuidSource C> using Cpuid1FIdSource = CpuidLeafIdSource<C, IdSourceKind::kCpuid1F>;
template <CpuidSource C> using Cpuid0BIdSource = CpuidLeafIdSource<C, IdSourceKind::kCpuid0B>;
template <CpuidSource C> using Cpuid01IdSource = CpuidLeafIdSource<C, IdSourceKind::kCpuid01>;
template <CpuidSource C>
using Amd8000001EIdSource = CpuidLeafIdSource<C, IdSourceKind::kCpuid8000001E>;

struct ChainedApicId {
  IdSourceKind leaf = IdSourceKind::kCpuid01;
  ApicId id{0};
};

// The best CPUID leaf the CPU implements: 1FH, then 0BH (both 32-bit x2APIC IDs), then 01H
// (8-bit initial APIC ID). 8000001EH is not in the chain: where it exists so does 0BH on
// every AMD CPU that can have more than 255 threads, and on older parts it disagrees with 01H.
template <CpuidSource C>
Result<ChainedApicId> cpuid_chain_apic_id(C& c) noexcept {
  if (auto id = Cpuid1FIdSource<C>(c).current_apic_id()) return ChainedApicId{IdSourceKind::kCpuid1F, *id};
  if (auto id = Cpuid0BIdSource<C>(c).current_apic_id()) return ChainedApicId{IdSourceKind::kCpuid0B, *id};
  if (auto id = Cpuid01IdSource<C>(c).current_apic_id()) return ChainedApicId{IdSourceKind::kCpuid01, *id};
  return Error::kLeafUnavailable;
}

template <CpuidSource C>
class CpuidChainIdSource {
 public:
  static constexpr IdSourceKind kKind = IdSourceKind::kCpuidChain;
  explicit CpuidChainIdSource(C& cpuid) noexcept : cpuid_(&cpuid) {}
  Result<ApicId> current_apic_id() noexcept {
    auto r = cpuid_chain_apic_id(*cpuid_);
    if (!r) return r.error();
    return r->id;
  }

 private:
  C* cpuid_;
};

}  // namespace smpboot
