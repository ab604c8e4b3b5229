// Delays of the INIT/SIPI/SIPI sequence and where they come from.
//  - spec: Intel MP Specification 1.4 B.4 and SDM Vol. 3A 9.4.4.1: 10 ms after INIT, 200 us
//    after each STARTUP, and the INIT level de-assert that pre-integrated APICs needed.
//  - modern: CPUs with an integrated APIC do not need the 10 ms (Linux has used no INIT delay
//    for Intel family 6+, AMD family 0Fh+ and Hygon since 2015); 10 us after each STARTUP.
//  - auto: modern on those vendors and families, spec on anything else.
#pragma once

#include <stdint.h>

#include "../concepts/io.hpp"
#include "../hw/cpuid.hpp"

namespace smpboot {

enum class DelayPolicy : uint8_t { kSpec, kModern, kAuto };

struct WakeDelays {
  DelayPolicy policy;
  uint32_t after_init_us;
  uint32_t after_sipi_us;  // after each STARTUP
  bool init_deassert;

  constexpr const char* name() const noexcept {
    return policy == DelayPolicy::kSpec ? "spec" : policy == DelayPolicy::kModern ? "modern" : "auto";
  }
};

inline constexpr WakeDelays kSpecDelays{DelayPolicy::kSpec, 10'000, 200, true};
inline constexpr WakeDelays kModernDelays{DelayPolicy::kModern, 0, 10, false};

// Display family per SDM Vol. 2A CPUID 01H: base family, plus extended family when base = 0Fh.
constexpr uint32_t display_family(uint32_t leaf01_eax) noexcept {
  const uint32_t base = (leaf01_eax >> 8) & 0xF;
  return base == 0xF ? base + ((leaf01_eax >> 20) & 0xFF) : base;
}

constexpr bool modern_delays_safe(Vendor vendor, uint32_t family) noexcept {
  switch (vendor) {
    case Vendor::kIntel: return family >= 6;
    case Vendor::kAmd: return family >= 0xF;
    case Vendor::kHygon: return family >= 0x18;
    default: return false;
  }
}

template <CpuidSource C>
WakeDelays auto_delays(C& cpuid) noexcept {
  const Leaf00 l0{cpuid};
  if (l0.max_basic_leaf() < 1) return {DelayPolicy::kAuto, kSpecDelays.after_init_us, kSpecDelays.after_sipi_us, true};
  const uint32_t family = display_family(Leaf01{cpuid}.regs().eax);
  WakeDelays d = modern_delays_safe(l0.vendor(), family) ? kModernDelays : kSpecDelays;
  d.policy = DelayPolicy::kAuto;
  return d;
}

}  // namespace smpboot
