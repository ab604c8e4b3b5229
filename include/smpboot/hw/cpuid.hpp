// Typed views over the CPUID leaves that identify a CPU and its place in the topology
// (Intel SDM Vol. 2A, CPUID: leaves 01H, 04H, 0BH, 1FH; AMD APM Vol. 3, Appendix E: 8000_0001h,
// 8000_0008h, 8000_001Eh). Views only decode registers; which leaf is trustworthy is decided
// in discovery/apic_id.hpp.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"

namespace smpboot {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  constexpr bool operator==(const CpuidRegs&) const = default;
};

namespace leaf {
inline constexpr uint32_t kVendor = 0x0;
inline constexpr uint32_t kFeatures = 0x1;
inline constexpr uint32_t kCacheParams = 0x4;
inline constexpr uint32_t kTopology = 0xB;
inline constexpr uint32_t kTopologyV2 = 0x1F;
inline constexpr uint32_t kExtMax = 0x8000'0000;
inline constexpr uint32_t kExtFeatures = 0x8000'0001;
inline constexpr uint32_t kAmdSizeIds = 0x8000'0008;
inline constexpr uint32_t kAmdExtApicId = 0x8000'001E;
}  // namespace leaf

enum class Vendor : uint8_t { kOther, kIntel, kAmd, kHygon };

struct Leaf00 {
  CpuidRegs r;
  constexpr uint32_t max_basic_leaf() const noexcept { return r.eax; }
  constexpr Vendor vendor() const noexcept {
    // "GenuineIntel" / "AuthenticAMD" / "HygonGenuine" in EBX, EDX, ECX.
    if (r.ebx == 0x756E6547 && r.edx == 0x49656E69 && r.ecx == 0x6C65746E) return Vendor::kIntel;
    if (r.ebx == 0x68747541 && r.edx == 0x69746E65 && r.ecx == 0x444D4163) return Vendor::kAmd;
    if (r.ebx == 0x6F677948 && r.edx == 0x6E65476E && r.ecx == 0x656E6975) return Vendor::kHygon;
    return Vendor::kOther;
  }
};

struct Leaf01 {
  CpuidRegs r;
  constexpr uint8_t initial_apic_id() const noexcept { return uint8_t(bits(r.ebx, 24, 8)); }
  constexpr uint8_t max_logical_ids() const noexcept { return uint8_t(bits(r.ebx, 16, 8)); }
  constexpr bool htt() const noexcept { return bit(r.edx, 28); }
  constexpr bool has_apic() const noexcept { return bit(r.edx, 9); }
  constexpr bool has_x2apic() const noexcept { return bit(r.ecx, 21); }
};

// Leaf 04H EAX[31:26] + 1 = max addressable core IDs in the package (Intel, legacy topology).
struct Leaf04 {
  CpuidRegs r;
  constexpr uint32_t max_core_ids() const noexcept { return uint32_t(bits(r.eax, 26, 6)) + 1; }
  constexpr bool valid() const noexcept { return bits(r.eax, 0, 5) != 0; }  // cache type != null
};

// Level types of leaves 0BH/1FH (SDM Vol. 2A table 3-8, "V2 Extended Topology Enumeration").
enum class TopologyLevelType : uint8_t {
  kInvalid = 0, kSmt = 1, kCore = 2, kModule = 3, kTile = 4, kDie = 5, kDieGrp = 6,
};

constexpr const char* topology_level_name(uint8_t type) noexcept {
  switch (type) {
    case 1: return "SMT";
    case 2: return "Core";
    case 3: return "Module";
    case 4: return "Tile";
    case 5: return "Die";
    case 6: return "DieGrp";
    default: return nullptr;  // caller prints "T<n>"
  }
}

// One sub-leaf of 0BH/1FH.
struct TopologyLevel {
  CpuidRegs r;
  // Bits to shift the x2APIC ID right to get the next level's ID (EAX[4:0]).
  constexpr uint8_t shift() const noexcept { return uint8_t(bits(r.eax, 0, 5)); }
  constexpr uint16_t logical_processors() const noexcept { return uint16_t(bits(r.ebx, 0, 16)); }
  constexpr uint8_t type() const noexcept { return uint8_t(bits(r.ecx, 8, 8)); }
  constexpr uint32_t x2apic_id() const noexcept { return r.edx; }
  // SDM: a sub-leaf with level type 0 ends the enumeration; for sub-leaf 0, EBX = 0 means the
  // leaf is not supported.
  constexpr bool terminal() const noexcept { return type() == 0; }
};

struct Leaf80000001 {
  CpuidRegs r;
  constexpr bool topology_extensions() const noexcept { return bit(r.ecx, 22); }
  constexpr bool cmp_legacy() const noexcept { return bit(r.ecx, 1); }
};

struct Leaf80000008 {
  CpuidRegs r;
  constexpr uint8_t apic_id_core_id_size() const noexcept { return uint8_t(bits(r.ecx, 12, 4)); }
  constexpr uint32_t nc() const noexcept { return uint32_t(bits(r.ecx, 0, 8)) + 1; }
};

struct Leaf8000001E {
  CpuidRegs r;
  constexpr uint32_t extended_apic_id() const noexcept { return r.eax; }
  constexpr uint8_t compute_unit_id() const noexcept { return uint8_t(bits(r.ebx, 0, 8)); }
  constexpr uint32_t threads_per_compute_unit() const noexcept {
    return uint32_t(bits(r.ebx, 8, 8)) + 1;
  }
  constexpr uint8_t node_id() const noexcept { return uint8_t(bits(r.ecx, 0, 8)); }
};

}  // namespace smpboot
