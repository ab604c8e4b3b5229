// Measuring the TSC against a timer of known rate, once, on the BSP: PIT counter 2 in mode 0
// through port 61h (Intel 8254 data sheet) or the ACPI PM timer (ACPI 6.5 4.8.3.3 "Power
// Management Timer"); then the local APIC timer's rate against the TSC (SDM Vol. 3A 11.5.4
// "APIC Timer"), so one-shot timers can be armed in microseconds. Every loop is bounded in TSC
// ticks and in polls and ends in a typed error, never a hang. Whether the TSC is invariant
// (CPUID 80000007H:EDX[8]) is the kernel's decision, not checked here.
#pragma once

#include <stdint.h>

#include "../concepts/io.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../hw/legacy_timers.hpp"

namespace smpboot {

// floor(a * b / c) without a 128-bit division (a libgcc call a kernel may not link): the
// product is formed in 128 bits, which x86-64 does inline, and divided by shift-and-subtract.
// Saturates at 2^64 - 1 when the quotient does not fit; c = 0 gives 2^64 - 1 as well.
constexpr uint64_t mul_div_floor(uint64_t a, uint64_t b, uint64_t c) noexcept {
  __extension__ typedef unsigned __int128 U128;
  const U128 product = U128{a} * b;
  uint64_t high = uint64_t(product >> 64);
  uint64_t low = uint64_t(product);
  if (c == 0 || high >= c) return ~uint64_t{0};
  uint64_t quotient = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const bool carry = high >> 63;
    high = high << 1 | low >> 63;
    low <<= 1;
    quotient <<= 1;
    if (carry || high >= c) {
      high -= c;
      quotient |= 1;
    }
  }
  return quotient;
}

static_assert(mul_div_floor(3'000'000'000, 4'000'000'000, 1'000'000) == 12'000'000'000'000);
static_assert(mul_div_floor(~uint64_t{0}, 2, 4) == ~uint64_t{0} / 2);
static_assert(mul_div_floor(~uint64_t{0}, 2, 1) == ~uint64_t{0});  // saturated
static_assert(mul_div_floor(7, 3, 2) == 10);

// How long to measure and when to give up.
struct CalibrationBounds {
  // The reference interval. 50 ms gives the PIT (one tick = 0.84 us) and the PM timer
  // (0.28 us) a resolution far below 0.01 %. The PIT's 16-bit count caps it at 54.9 ms.
  uint64_t window_us = 50'000;
  // Give up once two windows have passed at this TSC rate (a slower TSC waits longer in real
  // time: 20 windows, one second, at 1 GHz). No x86 TSC has run faster than 10 GHz.
  uint64_t max_tsc_hz = 10'000'000'000;
  // And after this many polls, in case the TSC itself does not move.
  uint64_t max_polls = 200'000'000;

  constexpr uint64_t tsc_limit() const noexcept {
    return mul_div_floor(2 * window_us, max_tsc_hz, 1'000'000);
  }
};

// The 10 ms that measure_apic_timer_hz uses by default: its reference, the TSC, is fine-grained.
inline constexpr CalibrationBounds kApicTimerBounds{.window_us = 10'000};

namespace detail {
// TSC ticks over `reference_ticks` ticks of a `reference_hz` timer, as a TSC rate.
inline Result<uint64_t> tsc_rate(uint64_t tsc_ticks, uint64_t reference_hz,
                                 uint64_t reference_ticks) noexcept {
  if (tsc_ticks == 0) return Error::kTscNotCounting;
  return mul_div_floor(tsc_ticks, reference_hz, reference_ticks);
}
}  // namespace detail

// The TSC rate in Hz from PIT counter 2: mode 0 with a count of one window, started by raising
// GATE2 (port 61h bit 0) with the speaker off (bit 1), timed until OUT2 (bit 5) rises at
// terminal count. Leaves GATE2 low and the speaker off. kPitNotCounting if OUT2 is already high
// after programming (no PIT, or port 61h floats) or does not rise in time; kTscNotCounting if
// the TSC did not move.
template <PortIo Io, CpuControl Cpu>
Result<uint64_t> calibrate_tsc_with_pit(Io& io, Cpu& cpu,
                                        const CalibrationBounds& bounds = {}) noexcept {
  uint64_t count = mul_div_floor(bounds.window_us, pit::kInputHz, 1'000'000);
  if (count > 0xFFFF) count = 0xFFFF;
  if (count == 0) count = 1;
  const uint8_t idle = uint8_t(io.in8(pit::kGatePort) & pit::port61::kWritable.kMask &
                               ~(pit::port61::kGate2.kMask | pit::port61::kSpeakerData.kMask));
  io.out8(pit::kGatePort, idle);
  io.out8(pit::kControlPort, pit::kCounter2Mode0);
  io.out8(pit::kCounter2Port, uint8_t(count));
  io.out8(pit::kCounter2Port, uint8_t(count >> 8));
  if (pit::port61::kOut2(io.in8(pit::kGatePort))) {
    io.out8(pit::kGatePort, idle);
    return Error::kPitNotCounting;
  }
  io.out8(pit::kGatePort, uint8_t(idle | pit::port61::kGate2.kMask));
  const uint64_t limit = bounds.tsc_limit();
  const uint64_t t0 = cpu.read_tsc();
  for (uint64_t poll = 0; poll < bounds.max_polls; ++poll) {
    const bool out2 = pit::port61::kOut2(io.in8(pit::kGatePort));
    const uint64_t t = cpu.read_tsc();
    if (out2) {
      io.out8(pit::kGatePort, idle);
      return detail::tsc_rate(t - t0, pit::kInputHz, count);
    }
    if (t - t0 > limit) break;
  }
  io.out8(pit::kGatePort, idle);
  return Error::kPitNotCounting;
}

// The TSC rate in Hz from the ACPI PM timer at `port` (the FADT's PM_TMR_BLK or
// X_PM_TMR_BLK), 32 bits wide when `is_32bit` (FADT flag TMR_VAL_EXT), else 24. The window
// starts on a tick edge, not inside a tick; one wrap of the counter is handled by modular
// subtraction. kPmTimerNotCounting if the timer does not advance, kTscNotCounting if the TSC
// does not.
template <PortIo Io, CpuControl Cpu>
Result<uint64_t> calibrate_tsc_with_pm_timer(Io& io, Cpu& cpu, uint16_t port, bool is_32bit,
                                             const CalibrationBounds& bounds = {}) noexcept {
  const uint32_t mask = is_32bit ? pm_timer::kMask32 : pm_timer::kMask24;
  uint64_t target = mul_div_floor(bounds.window_us, pm_timer::kHz, 1'000'000);
  if (target > mask / 2) target = mask / 2;  // 2.3 s for 24 bits: far from a wrap
  if (target == 0) target = 1;
  const uint64_t limit = bounds.tsc_limit();

  const uint32_t first = io.in32(port) & mask;
  uint32_t start = first;
  const uint64_t edge_t0 = cpu.read_tsc();
  for (uint64_t poll = 0; poll < bounds.max_polls && start == first; ++poll) {
    start = io.in32(port) & mask;
    if (start == first && cpu.read_tsc() - edge_t0 > limit) break;
  }
  if (start == first) return Error::kPmTimerNotCounting;

  const uint64_t t0 = cpu.read_tsc();
  for (uint64_t poll = 0; poll < bounds.max_polls; ++poll) {
    const uint32_t elapsed = ((io.in32(port) & mask) - start) & mask;
    const uint64_t t = cpu.read_tsc();
    // A read more than half the counter ahead went backwards: not a tick to trust.
    if (elapsed >= target && elapsed <= mask / 2) return detail::tsc_rate(t - t0, pm_timer::kHz, elapsed);
    if (t - t0 > limit) break;
  }
  return Error::kPmTimerNotCounting;
}

// The local APIC timer as the calibration and the waiter use it: LocalApicCommon
// (apic/local_apic_common.hpp) provides it for XApic and X2Apic, always dividing by 16.
template <class T>
concept ApicTimer = requires(T& timer, uint8_t vector, uint32_t initial_count) {
  { timer.start_one_shot_timer(vector, initial_count) } noexcept -> SameAs<void>;
  { timer.timer_current_count() } noexcept -> SameAs<uint32_t>;
  { timer.stop_timer() } noexcept -> SameAs<void>;
};

// The rate in Hz at which the local APIC timer's current count falls (its input clock divided
// by 16), measured over bounds.window_us of a TSC running at tsc_hz: a one-shot timer from
// 0xFFFFFFFF on `vector`, stopped afterwards. Call with interrupts disabled. Its own count
// limits a window to 2^32 counts (over 60 s at QEMU's 62.5 MHz). kApicTimerNotCounting if the
// count does not fall, kTscNotCounting if the TSC does not move.
template <ApicTimer Timer, CpuControl Cpu>
Result<uint64_t> measure_apic_timer_hz(Timer& timer, Cpu& cpu, uint64_t tsc_hz, uint8_t vector,
                                       const CalibrationBounds& bounds = kApicTimerBounds) noexcept {
  const uint64_t window_ticks = mul_div_floor(bounds.window_us, tsc_hz, 1'000'000);
  timer.start_one_shot_timer(vector, 0xFFFF'FFFFu);
  const uint32_t c0 = timer.timer_current_count();
  const uint64_t t0 = cpu.read_tsc();
  uint64_t t = t0;
  for (uint64_t poll = 0; poll < bounds.max_polls && t - t0 < window_ticks; ++poll) {
    cpu.pause();
    t = cpu.read_tsc();
  }
  const uint32_t c1 = timer.timer_current_count();
  t = cpu.read_tsc();
  timer.stop_timer();
  if (t == t0) return Error::kTscNotCounting;
  if (c1 >= c0) return Error::kApicTimerNotCounting;
  return mul_div_floor(c0 - c1, tsc_hz, t - t0);
}

}  // namespace smpboot
