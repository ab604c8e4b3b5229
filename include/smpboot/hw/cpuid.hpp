// Typed views over the CPUID leaves that identify a CPU and its place in the topology
// (Intel SDM Vol. 2A, CPUID: leaves 00H, 01H, 04H, 0BH, 1FH, 80000000H, 80000001H; AMD APM
// Vol. 3, Appendix E: 8000_0008h, 8000_001Eh). A view reads its own leaf from the source it is
// given, so it cannot decode the registers of another leaf. Views only decode; which leaf is
// trustworthy is decided in discovery/apic_id.hpp.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"
#include "../core/types.hpp"

namespace smpboot {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  constexpr bool operator==(const CpuidRegs&) const = default;
};

// What a view reads from. The full contract (noexcept) is concepts/io.hpp's CpuidSource, which
// builds on CpuidRegs and so cannot be included here.
template <class T>
concept CpuidReader = requires(T& source, uint32_t leaf, uint32_t subleaf) {
  { source.cpuid(leaf, subleaf) } -> SameAs<CpuidRegs>;
};

// One leaf (and sub-leaf), read at construction.
template <uint32_t Leaf>
class CpuidLeaf {
 public:
  static constexpr uint32_t kLeaf = Leaf;

  template <CpuidReader Source>
  constexpr explicit CpuidLeaf(Source& source, uint32_t subleaf = 0) noexcept
      : regs_(source.cpuid(Leaf, subleaf)), subleaf_(subleaf) {}

  constexpr const CpuidRegs& regs() const noexcept { return regs_; }
  constexpr uint32_t subleaf() const noexcept { return subleaf_; }

 protected:
  CpuidRegs regs_;
  uint32_t subleaf_;
};

enum class Vendor : uint8_t { kOther, kIntel, kAmd, kHygon };

struct Leaf00 : CpuidLeaf<0x0> {
  using CpuidLeaf::CpuidLeaf;
  constexpr uint32_t max_basic_leaf() const noexcept { return regs_.eax; }
  constexpr Vendor vendor() const noexcept {
    const CpuidRegs& r = regs_;
    // "GenuineIntel" / "AuthenticAMD" / "HygonGenuine" in EBX, EDX, ECX.
    if (r.ebx == 0x756E6547 && r.edx == 0x49656E69 && r.ecx == 0x6C65746E) return Vendor::kIntel;
    if (r.ebx == 0x68747541 && r.edx == 0x69746E65 && r.ecx == 0x444D4163) return Vendor::kAmd;
    if (r.ebx == 0x6F677948 && r.edx == 0x6E65476E && r.ecx == 0x656E6975) return Vendor::kHygon;
    return Vendor::kOther;
  }
};

struct Leaf01 : CpuidLeaf<0x1> {
  using CpuidLeaf::CpuidLeaf;
  static constexpr BitField<31, 24> kEbxInitialApicId{};
  constexpr uint8_t initial_apic_id() const noexcept { return kEbxInitialApicId(regs_.ebx); }
  constexpr uint8_t max_logical_ids() const noexcept { return field<23, 16>(regs_.ebx); }
  constexpr bool htt() const noexcept { return field<28>(regs_.edx); }
  constexpr bool has_apic() const noexcept { return field<9>(regs_.edx); }
  constexpr bool has_x2apic() const noexcept { return field<21>(regs_.ecx); }
};

// Deterministic cache parameters; EAX[31:26] + 1 = max addressable core IDs in the package
// (Intel, legacy topology). The sub-leaf is the cache index.
struct Leaf04 : CpuidLeaf<0x4> {
  using CpuidLeaf::CpuidLeaf;
  constexpr uint32_t max_core_ids() const noexcept { return uint32_t{field<31, 26>(regs_.eax)} + 1; }
  constexpr bool valid() const noexcept { return field<4, 0>(regs_.eax) != 0; }  // cache type
};

// The two extended-topology leaves share one layout (SDM Vol. 2A, "Extended Topology
// Enumeration Leaf" and "V2 Extended Topology Enumeration Leaf").
enum class TopologyLeaf : uint32_t { k0B = 0x0B, k1F = 0x1F };

// Level types of leaves 0BH/1FH (SDM Vol. 2A table 3-8); any other value is reserved.
enum class TopologyLevelType : uint8_t {
  kInvalid = 0, kSmt = 1, kCore = 2, kModule = 3, kTile = 4, kDie = 5, kDieGrp = 6,
};

constexpr const char* topology_level_name(TopologyLevelType type) noexcept {
  switch (type) {
    case TopologyLevelType::kSmt: return "SMT";
    case TopologyLevelType::kCore: return "Core";
    case TopologyLevelType::kModule: return "Module";
    case TopologyLevelType::kTile: return "Tile";
    case TopologyLevelType::kDie: return "Die";
    case TopologyLevelType::kDieGrp: return "DieGrp";
    case TopologyLevelType::kInvalid: break;
  }
  return nullptr;  // the caller prints the number
}

// One sub-leaf (level) of 0BH or 1FH.
class TopologyLevel {
 public:
  template <CpuidReader Source>
  constexpr TopologyLevel(Source& source, TopologyLeaf leaf, uint32_t subleaf) noexcept
      : regs_(source.cpuid(uint32_t(leaf), subleaf)), leaf_(leaf), subleaf_(subleaf) {}

  constexpr TopologyLeaf leaf() const noexcept { return leaf_; }
  constexpr uint32_t subleaf() const noexcept { return subleaf_; }
  // Bits to shift the x2APIC ID right to get the next level's ID.
  constexpr uint8_t shift() const noexcept { return field<4, 0>(regs_.eax); }
  constexpr uint16_t logical_processors() const noexcept { return field<15, 0>(regs_.ebx); }
  constexpr TopologyLevelType type() const noexcept {
    return TopologyLevelType{field<15, 8>(regs_.ecx)};
  }
  constexpr uint32_t x2apic_id() const noexcept { return regs_.edx; }
  // A sub-leaf with level type 0 ends the enumeration; for sub-leaf 0, EBX[15:0] = 0 means
  // the leaf is not supported.
  constexpr bool terminal() const noexcept { return type() == TopologyLevelType::kInvalid; }

 private:
  CpuidRegs regs_;
  TopologyLeaf leaf_;
  uint32_t subleaf_;
};

struct Leaf80000000 : CpuidLeaf<0x8000'0000> {
  using CpuidLeaf::CpuidLeaf;
  // 0 on CPUs without extended leaves, where EAX is whatever the highest basic leaf returns.
  constexpr uint32_t max_extended_leaf() const noexcept {
    return field<31, 16>(regs_.eax) == 0x8000 ? regs_.eax : 0;
  }
};

struct Leaf80000001 : CpuidLeaf<0x8000'0001> {
  using CpuidLeaf::CpuidLeaf;
  static constexpr BitField<20> kEdxNx{};  // execute disable exists: EFER.NXE may be set
  constexpr bool has_nx() const noexcept { return kEdxNx(regs_.edx); }
  constexpr bool topology_extensions() const noexcept { return field<22>(regs_.ecx); }
  constexpr bool cmp_legacy() const noexcept { return field<1>(regs_.ecx); }
};

struct Leaf80000008 : CpuidLeaf<0x8000'0008> {
  using CpuidLeaf::CpuidLeaf;
  constexpr uint8_t apic_id_core_id_size() const noexcept { return field<15, 12>(regs_.ecx); }
  constexpr uint32_t nc() const noexcept { return uint32_t{field<7, 0>(regs_.ecx)} + 1; }
};

struct Leaf8000001E : CpuidLeaf<0x8000'001E> {
  using CpuidLeaf::CpuidLeaf;
  constexpr uint32_t extended_apic_id() const noexcept { return regs_.eax; }
  constexpr uint8_t compute_unit_id() const noexcept { return field<7, 0>(regs_.ebx); }
  constexpr uint32_t threads_per_compute_unit() const noexcept {
    return uint32_t{field<15, 8>(regs_.ebx)} + 1;
  }
  constexpr uint8_t node_id() const noexcept { return field<7, 0>(regs_.ecx); }
};

}  // namespace smpboot
