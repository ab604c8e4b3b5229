// A Clock over the time stamp counter. The frequency comes from the kernel's calibration
// (against the PIT or ACPI PM timer); invariant TSC (CPUID 8000_0007h:EDX[8]) makes it the
// same on every CPU, so an AP can stamp its own times in the shared boot records.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/io.hpp"

namespace smpboot {

template <CpuControl Cpu>
class TscClock {
 public:
  constexpr TscClock(Cpu cpu, uint64_t tsc_hz) noexcept : cpu_(cpu), tsc_hz_(tsc_hz ? tsc_hz : 1) {}

  uint64_t now_us() noexcept { return ticks_to_us(cpu_.read_tsc()); }
  void delay_us(uint64_t us) noexcept {
    const uint64_t until = now_us() + us;
    while (now_us() < until) cpu_.pause();
  }
  // Split so no 128-bit division (a libgcc call) is needed: t = q*hz + r.
  constexpr uint64_t ticks_to_us(uint64_t ticks) const noexcept {
    return (ticks / tsc_hz_) * 1'000'000 + (ticks % tsc_hz_) * 1'000'000 / tsc_hz_;
  }
  constexpr uint64_t tsc_hz() const noexcept { return tsc_hz_; }

 private:
  Cpu cpu_;
  uint64_t tsc_hz_;
};


}  // namespace smpboot
