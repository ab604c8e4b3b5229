// TSC calibration (time/calibration.hpp) against testing::FakePortIo's PIT counter 2 and ACPI
// PM timer on a FakeTsc of known rate, the APIC timer's rate against FakeApicTimer, and
// ApicTimerWaiter (time/apic_timer_waiter.hpp): within 0.1 % at several TSC rates, a 24-bit
// PM timer that wraps inside the window, every fault mode ending in its typed error, and the
// exact one-shot count and register traffic a wait arms.
#include <doctest/doctest.h>

#include <smpboot/apic/xapic.hpp>
#include <smpboot/boot/wait.hpp>
#include <smpboot/hw/apic_regs.hpp>
#include <smpboot/testing/fakes.hpp>
#include <smpboot/time/apic_timer_waiter.hpp>
#include <smpboot/time/calibration.hpp>
#include <smpboot/time/tsc_clock.hpp>

#include <cstdint>

using smpboot::ApicTimerWaiter;
using smpboot::CalibrationBounds;
using smpboot::Error;
using smpboot::WaitDeadline;
using smpboot::testing::AccessKind;
using smpboot::testing::FakeApicTimer;
using smpboot::testing::FakeCpuHalt;
using smpboot::testing::FakeCpuHaltState;
using smpboot::testing::FakePortIo;
using smpboot::testing::FakeTsc;
using smpboot::testing::FakeTscCpu;

namespace {

constexpr uint16_t kPmPort = 0x608;  // QEMU q35: PM base 0x600 + PM_TMR offset 8
constexpr uint64_t kRates[] = {1'000'000'000, 2'900'000'000, 3'500'000'000};
constexpr bool kWidths[] = {false, true};

// |measured - actual| within 0.1 % of actual.
bool within_0_1_percent(uint64_t measured, uint64_t actual) {
  const uint64_t diff = measured > actual ? measured - actual : actual - measured;
  return diff * 1000 <= actual;
}

// A TSC whose reads and port accesses take realistic time: 40 ns per TSC read, 1 us per port
// access (ISA I/O), at `hz`.
FakeTsc tsc_at(uint64_t hz) { return FakeTsc{.hz = hz, .step = hz / 25'000'000}; }

// Bounds for fault tests: still bounded by the TSC, and by few polls for a frozen TSC.
constexpr CalibrationBounds kQuickGiveUp{.max_polls = 100'000};

}  // namespace

static_assert(smpboot::ApicTimer<FakeApicTimer>);
static_assert(smpboot::ApicTimer<smpboot::XApic<smpboot::testing::FakeMmio>>);
static_assert(smpboot::Waiter<ApicTimerWaiter<FakeApicTimer, FakeCpuHalt>>);
static_assert(smpboot::Waiter<ApicTimerWaiter<smpboot::XApic<smpboot::testing::FakeMmio>, FakeCpuHalt>>);

TEST_CASE("PIT calibration lands within 0.1 % at 1, 2.9 and 3.5 GHz") {
  for (uint64_t hz : kRates) {
    CAPTURE(hz);
    FakeTsc tsc = tsc_at(hz);
    FakePortIo io{.time = &tsc, .io_ticks = hz / 1'000'000};
    const auto measured = smpboot::calibrate_tsc_with_pit(io, tsc);
    REQUIRE(measured.ok());
    CAPTURE(*measured);
    CHECK(within_0_1_percent(*measured, hz));
  }
}

TEST_CASE("PIT calibration programs counter 2 in mode 0 and leaves gate and speaker off") {
  FakeTsc tsc = tsc_at(2'000'000'000);
  FakePortIo io{.time = &tsc, .port61 = 0x0F};  // gate and speaker on, bits 3:2 set
  REQUIRE(smpboot::calibrate_tsc_with_pit(io, tsc).ok());
  // 50 ms of 1.193182 MHz: 59659 = 0xE90B.
  const smpboot::testing::Access expected[] = {
      {AccessKind::kWrite, 0x61, 0x0C},  // gate 2 low, speaker off, bits 3:2 kept
      {AccessKind::kWrite, 0x43, 0xB0},  // counter 2, LSB then MSB, mode 0, binary
      {AccessKind::kWrite, 0x42, 0x0B},
      {AccessKind::kWrite, 0x42, 0xE9},
      {AccessKind::kWrite, 0x61, 0x0D},  // gate high: counting starts
      {AccessKind::kWrite, 0x61, 0x0C},  // OUT2 rose: gate low again
  };
  REQUIRE(io.writes.count == 6);
  for (uint32_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(io.writes.entries[i] == expected[i]);
  }
  CHECK(io.port61 == 0x0C);
}

TEST_CASE("PM timer calibration lands within 0.1 %, 24 and 32 bits") {
  for (uint64_t hz : kRates) {
    for (bool wide : kWidths) {
      CAPTURE(hz);
      CAPTURE(wide);
      FakeTsc tsc = tsc_at(hz);
      FakePortIo io{.time = &tsc, .io_ticks = hz / 1'000'000, .pm_port = kPmPort, .pm_32bit = wide,
                    .pm_start = 0x1234'5678};
      const auto measured = smpboot::calibrate_tsc_with_pm_timer(io, tsc, kPmPort, wide);
      REQUIRE(measured.ok());
      CAPTURE(*measured);
      CHECK(within_0_1_percent(*measured, hz));
    }
  }
}

TEST_CASE("a 24-bit PM timer that wraps inside the window, with garbage in bits 31:24") {
  FakeTsc tsc = tsc_at(2'900'000'000);
  // 50 ms is 178977 PM ticks; start 1000 ticks before the 24-bit wrap.
  FakePortIo io{.time = &tsc, .io_ticks = 2'900, .pm_port = kPmPort, .pm_32bit = false,
                .pm_start = 0x00FF'FFFF - 1000, .pm_reserved_byte = 0xA5};
  const auto measured = smpboot::calibrate_tsc_with_pm_timer(io, tsc, kPmPort, false);
  REQUIRE(measured.ok());
  CHECK(within_0_1_percent(*measured, 2'900'000'000));
  CHECK((io.in32(kPmPort) & 0x00FF'FFFF) < 0x0010'0000);  // it did wrap
}

TEST_CASE("a 32-bit PM timer wraps at 2^32") {
  FakeTsc tsc = tsc_at(1'000'000'000);
  FakePortIo io{.time = &tsc, .io_ticks = 1'000, .pm_port = kPmPort, .pm_32bit = true,
                .pm_start = 0xFFFF'FFFF - 500};
  const auto measured = smpboot::calibrate_tsc_with_pm_timer(io, tsc, kPmPort, true);
  REQUIRE(measured.ok());
  CHECK(within_0_1_percent(*measured, 1'000'000'000));
}

TEST_CASE("a PIT whose OUT2 never rises: kPitNotCounting within the TSC bound, gate left low") {
  FakeTsc tsc = tsc_at(3'500'000'000);
  FakePortIo io{.time = &tsc, .io_ticks = 3'500, .pit_out2_stuck_low = true};
  const auto r = smpboot::calibrate_tsc_with_pit(io, tsc);
  CHECK(r.error() == Error::kPitNotCounting);
  // Two 50 ms windows at 10 GHz, plus the programming and the last poll.
  CHECK(tsc.tsc <= CalibrationBounds{}.tsc_limit() + 100'000);
  CHECK(io.port61 == 0);
}

TEST_CASE("no PIT at all (port 61h floats high): kPitNotCounting at once") {
  FakeTsc tsc = tsc_at(1'000'000'000);
  FakePortIo io{.time = &tsc};
  io.pit = FakePortIo::Pit::kIdle;
  struct Floating {
    FakePortIo* io;
    uint8_t in8(uint16_t) noexcept { return 0xFF; }
    void out8(uint16_t port, uint8_t v) noexcept { io->out8(port, v); }
    uint32_t in32(uint16_t) noexcept { return 0xFFFF'FFFF; }
  } floating{&io};
  CHECK(smpboot::calibrate_tsc_with_pit(floating, tsc).error() == Error::kPitNotCounting);
  CHECK(tsc.reads == 0);  // refused before timing anything
}

TEST_CASE("a PM timer that never moves, or no PM timer: kPmTimerNotCounting within the bound") {
  for (bool stuck_present : kWidths) {
    CAPTURE(stuck_present);
    FakeTsc tsc = tsc_at(2'900'000'000);
    FakePortIo io{.time = &tsc, .io_ticks = 2'900, .pm_port = uint16_t(stuck_present ? kPmPort : 0),
                  .pm_stuck = true};
    const auto r = smpboot::calibrate_tsc_with_pm_timer(io, tsc, kPmPort, false);
    CHECK(r.error() == Error::kPmTimerNotCounting);
    CHECK(tsc.tsc <= 2 * CalibrationBounds{}.tsc_limit() + 100'000);  // edge wait, then window
  }
}

TEST_CASE("a TSC that never moves ends every calibration by the poll bound") {
  FakeTsc tsc{.hz = 1'000'000'000, .frozen = true};
  FakePortIo io{.time = &tsc, .pm_port = kPmPort};
  // Frozen time freezes the fake timers too: the poll bound ends each loop.
  CHECK(!smpboot::calibrate_tsc_with_pit(io, tsc, kQuickGiveUp).ok());
  CHECK(!smpboot::calibrate_tsc_with_pm_timer(io, tsc, kPmPort, true, kQuickGiveUp).ok());
  FakeApicTimer timer{.time = &tsc};
  CHECK(smpboot::measure_apic_timer_hz(timer, tsc, 1'000'000'000, 0xEF, kQuickGiveUp).error() ==
        Error::kTscNotCounting);
  // With real timers a frozen TSC is seen when the reference finishes: 0 TSC ticks.
  FakeTsc running = tsc_at(1'000'000'000);
  FakePortIo io2{.time = &running, .io_ticks = 1'000};
  struct FrozenCpu {
    void pause() noexcept {}
    uint64_t read_tsc() noexcept { return 42; }
  } frozen;
  CHECK(smpboot::calibrate_tsc_with_pit(io2, frozen).error() == Error::kTscNotCounting);
}

TEST_CASE("the APIC timer's rate, measured against the TSC, within 0.1 %") {
  const uint64_t timer_rates[] = {62'500'000, 1'500'000, 100'000'000 / 16};
  for (uint64_t hz : kRates) {
    for (uint64_t counts_hz : timer_rates) {
      CAPTURE(hz);
      CAPTURE(counts_hz);
      FakeTsc tsc = tsc_at(hz);
      FakeApicTimer timer{.time = &tsc, .counts_hz = counts_hz};
      const auto measured = smpboot::measure_apic_timer_hz(timer, tsc, hz, 0xEF);
      REQUIRE(measured.ok());
      CAPTURE(*measured);
      CHECK(within_0_1_percent(*measured, counts_hz));
      CHECK(timer.starts == 1);
      CHECK(timer.armed_counts[0] == 0xFFFF'FFFFu);
      CHECK(timer.vector == 0xEF);
      CHECK(!timer.armed);  // stopped afterwards
    }
  }
}

TEST_CASE("an APIC timer that never counts: kApicTimerNotCounting after one window") {
  FakeTsc tsc = tsc_at(2'900'000'000);
  FakeApicTimer timer{.time = &tsc, .stuck = true};
  CHECK(smpboot::measure_apic_timer_hz(timer, tsc, 2'900'000'000, 0xEF).error() ==
        Error::kApicTimerNotCounting);
  CHECK(tsc.tsc < 2'900'000'000 / 50);  // about 10 ms, far from a hang
  CHECK(!timer.armed);
}

TEST_CASE("ApicTimerWaiter arms a one-shot for the time left, rounded down, and returns") {
  FakeTsc tsc = tsc_at(2'900'000'000);
  FakeApicTimer timer{.time = &tsc, .counts_hz = 62'500'000};
  FakeCpuHaltState halt{.time = &tsc, .timer = &timer};
  ApicTimerWaiter waiter{timer, FakeCpuHalt{&halt}, 62'500'000, 0xEF};

  waiter.wait(WaitDeadline{.deadline_us = 5'000, .remaining_us = 1'000});
  CHECK(timer.starts == 1);
  CHECK(timer.armed_counts[0] == 62'500);  // 1 ms at 62.5 MHz
  CHECK(timer.vector == 0xEF);
  CHECK(halt.halts == 1);
  CHECK(halt.timer_wakes == 1);
  CHECK(halt.hangs == 0);
  CHECK(!timer.armed);  // stopped after the wake
  // The fake slept until the timer fired: 1 ms of TSC.
  CHECK(tsc.tsc >= 2'900'000);
  CHECK(tsc.tsc < 2'900'000 + 1'000);

  // Rounded down, at least 1, clamped to 32 bits.
  CHECK(waiter.count_for_us(1) == 62);
  CHECK(ApicTimerWaiter<FakeApicTimer, FakeCpuHalt>(timer, FakeCpuHalt{&halt}, 999'999, 0xEF)
            .count_for_us(1) == 1);
  CHECK(waiter.count_for_us(68'719'476) == 4'294'967'250);  // 2^32 counts: 68.719476736 s
  CHECK(waiter.count_for_us(100'000'000) == 0xFFFF'FFFFu);
  CHECK(waiter.count_for_us(WaitDeadline::kNever) == 0xFFFF'FFFFu);
}

TEST_CASE("ApicTimerWaiter returns early on another interrupt; a never-ending wait is clamped") {
  FakeTsc tsc = tsc_at(1'000'000'000);
  FakeApicTimer timer{.time = &tsc};
  FakeCpuHaltState halt{.time = &tsc, .timer = &timer, .other_interrupt_ticks = 10'000};
  ApicTimerWaiter waiter{timer, FakeCpuHalt{&halt}, timer.counts_hz, 0x30};
  waiter.wait(WaitDeadline{});  // never
  CHECK(timer.armed_counts[0] == 0xFFFF'FFFFu);
  CHECK(halt.other_wakes == 1);
  CHECK(halt.timer_wakes == 0);
  CHECK(timer.stops == 1);
}

TEST_CASE("wait_until with an ApicTimerWaiter and a dead CPU ends at its timeout") {
  FakeTsc tsc = tsc_at(2'900'000'000);
  FakeApicTimer timer{.time = &tsc};
  FakeCpuHaltState halt{.time = &tsc, .timer = &timer};
  ApicTimerWaiter waiter{timer, FakeCpuHalt{&halt}, timer.counts_hz, 0xEF};
  smpboot::TscClock<FakeTscCpu> clock{FakeTscCpu{&tsc}, tsc.hz};
  const uint64_t start = clock.now_us();
  const bool met = smpboot::wait_until(clock, waiter, 20'000, [] { return false; });
  CHECK(!met);
  const uint64_t elapsed = clock.now_us() - start;
  CHECK(elapsed >= 20'000);
  CHECK(elapsed < 20'100);
  CHECK(halt.hangs == 0);
  CHECK(halt.halts >= 1);
  CHECK(halt.halts < 10);  // slept in one-shots, did not spin
}

TEST_CASE("ApicTimerWaiter over an XApic: divide by 16, one-shot LVT, then the initial count") {
  namespace reg = smpboot::apic_reg;
  smpboot::testing::FakeMmioState mmio;
  smpboot::XApic<smpboot::testing::FakeMmio> apic{smpboot::testing::FakeMmio(mmio)};
  FakeTsc tsc = tsc_at(1'000'000'000);
  FakeCpuHaltState halt{.time = &tsc, .other_interrupt_ticks = 1'000};
  ApicTimerWaiter waiter{apic, FakeCpuHalt{&halt}, 62'500'000, 0xEF};
  waiter.wait(WaitDeadline{.deadline_us = 100, .remaining_us = 10});
  const auto& log = mmio.log;
  REQUIRE(log.count >= 3);
  CHECK(log.entries[0] == smpboot::testing::Access{AccessKind::kWrite, reg::kTimerDivide.xapic_offset, 0b0011});
  CHECK(log.entries[1] == smpboot::testing::Access{AccessKind::kWrite, reg::kLvtTimer.xapic_offset, 0xEF});
  CHECK(log.entries[2] == smpboot::testing::Access{AccessKind::kWrite, reg::kTimerInitialCount.xapic_offset, 625});
  CHECK(halt.halts == 1);
}
