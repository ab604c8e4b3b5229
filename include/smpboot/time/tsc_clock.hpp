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
  // Counts in TSC ticks, rounded up, so the wait is never shorter than asked (a wait in
  // whole microseconds could end up to 1 us early).
  void delay_us(uint64_t us) noexcept {
    const uint64_t start = cpu_.read_tsc();
    const uint64_t ticks = us_to_ticks_ceil(us);
    while (cpu_.read_tsc() - start < ticks) cpu_.pause();
  }
  constexpr uint64_t us_to_ticks_ceil(uint64_t us) const noexcept {
    const uint64_t whole = (us / 1'000'000) * tsc_hz_;
    const uint64_t part = us % 1'000'000;  // part * hz < 2^64 for hz below 18 THz
    return whole + (part * tsc_hz_ + 999'999) / 1'000'000;
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
