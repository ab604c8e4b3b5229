// The policy seam for "who am I": how the running CPU finds its own APIC ID. Runs on an AP
// before it has any per-CPU state, so implementations must be stateless apart from their I/O.
#pragma once

#include "../core/result.hpp"
#include "../core/types.hpp"

namespace smpboot {

enum class IdSourceKind : uint8_t {
  kApicRegister,  // xAPIC ID register or x2APIC MSR 0x802: what the APIC answers to today
  kCpuidChain,    // best available of 1FH, 0BH, 8000001EH, 01H
  kCpuid1F,
  kCpuid0B,
  kCpuid8000001E,
  kCpuid01,
};

constexpr const char* id_source_name(IdSourceKind k) noexcept {
  switch (k) {
    case IdSourceKind::kApicRegister: return "apic";
    case IdSourceKind::kCpuidChain: return "cpuid";
    case IdSourceKind::kCpuid1F: return "cpuid_1f";
    case IdSourceKind::kCpuid0B: return "cpuid_0b";
    case IdSourceKind::kCpuid8000001E: return "cpuid_8000001e";
    case IdSourceKind::kCpuid01: return "cpuid_01";
  }
  return "unknown";
}

template <class T>
concept ApicIdSource = requires(T& s) {
  { s.current_apic_id() } noexcept -> SameAs<Result<ApicId>>;
};

}  // namespace smpboot
