// TscClock (time/tsc_clock.hpp) over testing::FakeCpu, and Deadline (concepts/clock.hpp) over
// testing::FakeClock: exact tick -> microsecond conversion without 128-bit arithmetic, delays
// that last at least what was asked (the Clock contract), and deadline expiry.
#include <doctest/doctest.h>

#include <smpboot/concepts/clock.hpp>
#include <smpboot/testing/fakes.hpp>
#include <smpboot/time/tsc_clock.hpp>

#include <cstdint>
#include <limits>

using smpboot::Deadline;
using smpboot::TscClock;
using smpboot::testing::FakeClock;
using smpboot::testing::FakeCpu;

namespace {

__extension__ typedef unsigned __int128 u128;

// floor(ticks * 10^6 / hz) computed in 128 bits: the reference.
u128 exact_us(uint64_t ticks, uint64_t hz) { return u128{ticks} * 1'000'000u / hz; }

// A CpuControl whose TSC the test can see: TscClock holds its Cpu by value, so this one
// points at a FakeCpu the test owns.
struct SharedCpu {
  FakeCpu* cpu;
  void pause() noexcept { cpu->pause(); }
  uint64_t read_tsc() noexcept { return cpu->read_tsc(); }
};

}  // namespace

static_assert(smpboot::CpuControl<SharedCpu>);
static_assert(smpboot::Clock<TscClock<FakeCpu>>);
static_assert(smpboot::Clock<TscClock<SharedCpu>>);

TEST_CASE("ticks_to_us is exact where a naive ticks * 1e6 would overflow") {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const uint64_t rates[] = {1'000'000, 14'318'180, 1'000'000'000, 2'500'000'000,
                            3'000'000'000, 3'999'999'999, 5'123'456'789};
  for (uint64_t hz : rates) {
    const TscClock<FakeCpu> clock{FakeCpu{}, hz};
    const uint64_t ticks_list[] = {0, 1, hz - 1, hz, hz + 1, 1ull << 40, 1ull << 44,
                                   (1ull << 44) + 12345, 1ull << 63, kMax - 1, kMax};
    for (uint64_t ticks : ticks_list) {
      CAPTURE(hz);
      CAPTURE(ticks);
      // hz >= 10^6, so the exact result always fits in 64 bits.
      CHECK(clock.ticks_to_us(ticks) == uint64_t(exact_us(ticks, hz)));
    }
  }
}

TEST_CASE("ticks_to_us golden values") {
  const TscClock<FakeCpu> ghz3{FakeCpu{}, 3'000'000'000};
  CHECK(ghz3.ticks_to_us(3'000'000'000) == 1'000'000);
  CHECK(ghz3.ticks_to_us(2'999) == 0);
  CHECK(ghz3.ticks_to_us(3'000) == 1);
  // 2^64 - 1 ticks at 3 GHz: ticks * 10^6 needs 84 bits.
  CHECK(ghz3.ticks_to_us(0xFFFF'FFFF'FFFF'FFFFull) == 6'148'914'691'236'517ull);
  CHECK(ghz3.ticks_to_us(1ull << 63) == 3'074'457'345'618'258ull);
  const TscClock<FakeCpu> mhz1{FakeCpu{}, 1'000'000};
  CHECK(mhz1.ticks_to_us(123'456'789) == 123'456'789);
}

TEST_CASE("us_to_ticks_ceil rounds a duration up to whole ticks") {
  const uint64_t rates[] = {1'000'000, 14'318'180, 2'500'000'000, 3'000'000'000, 5'123'456'789};
  const uint64_t durations[] = {0, 1, 7, 999'999, 1'000'000, 1'000'001, 10'000, 123'456'789'012};
  for (uint64_t hz : rates) {
    const TscClock<FakeCpu> clock{FakeCpu{}, hz};
    for (uint64_t us : durations) {
      CAPTURE(hz);
      CAPTURE(us);
      const u128 exact = (u128{us} * hz + 999'999u) / 1'000'000u;
      CHECK(clock.us_to_ticks_ceil(us) == uint64_t(exact));
    }
  }
  const TscClock<FakeCpu> pit{FakeCpu{}, 14'318'180};
  CHECK(pit.us_to_ticks_ceil(1) == 15);  // 14.31818 ticks
}

TEST_CASE("a zero frequency is treated as 1 Hz instead of dividing by zero") {
  const TscClock<FakeCpu> clock{FakeCpu{}, 0};
  CHECK(clock.tsc_hz() == 1);
  CHECK(clock.ticks_to_us(5) == 5'000'000);
}

TEST_CASE("now_us follows the TSC") {
  FakeCpu cpu;
  cpu.tsc = 3'000'000'000ull * 10;  // 10 s
  cpu.tsc_step = 3'000;             // 1 us per read
  TscClock<SharedCpu> clock{SharedCpu{&cpu}, 3'000'000'000};
  CHECK(clock.now_us() == 10'000'001);
  CHECK(clock.now_us() == 10'000'002);
}

TEST_CASE("delay_us waits at least the requested time (Clock: 'at least us microseconds')") {
  // Measured in TSC ticks from before the call to after it: the delay must cover us * hz / 10^6
  // ticks wherever the TSC stands between two microsecond boundaries when it starts.
  struct Case { uint64_t hz, start_tsc, step, us; };
  const Case cases[] = {
      {1'000'000, 0, 1, 100},            // 1 tick per us
      {3'000'000'000, 0, 1'000, 10},     // 3 GHz, coarse polling
      {3'000'000'000, 2'998, 1, 1},      // first read 1 tick before a microsecond boundary
      {10'000'000, 8, 1, 1},             // 0.1 us per tick, starting at 0.8 us
      {10'000'000, 9, 1, 5},
      {2'500'000'000, 123'456'789, 7, 200},
  };
  for (const Case& c : cases) {
    CAPTURE(c.hz);
    CAPTURE(c.start_tsc);
    CAPTURE(c.step);
    CAPTURE(c.us);
    FakeCpu cpu;
    cpu.tsc = c.start_tsc;
    cpu.tsc_step = c.step;
    TscClock<SharedCpu> clock{SharedCpu{&cpu}, c.hz};
    const uint64_t before = cpu.tsc;
    clock.delay_us(c.us);
    const uint64_t elapsed_ticks = cpu.tsc - before;
    const uint64_t required_ticks = uint64_t((u128{c.us} * c.hz + 999'999u) / 1'000'000u);
    CHECK(elapsed_ticks >= required_ticks);
    if (c.us > 1) CHECK(cpu.pauses > 0);  // it spins with pause, not a bare loop
  }
}

TEST_CASE("delay_us(0) returns without spinning") {
  FakeCpu cpu;
  TscClock<SharedCpu> clock{SharedCpu{&cpu}, 1'000'000};
  clock.delay_us(0);
  CHECK(cpu.pauses == 0);
}

TEST_CASE("Deadline expires once the clock reaches start + timeout") {
  SUBCASE("a clock that only moves when told to") {
    FakeClock clock;
    clock.step_us = 0;
    clock.now = 1'000;
    Deadline<FakeClock> d{clock, 100};
    CHECK_FALSE(d.expired());
    clock.delay_us(99);
    CHECK_FALSE(d.expired());
    clock.delay_us(1);
    CHECK(d.expired());
    clock.delay_us(1'000'000);
    CHECK(d.expired());
  }
  SUBCASE("a clock that advances 1 us per query: the 10th check after a 10 us deadline") {
    FakeClock clock;
    Deadline<FakeClock> d{clock, 10};  // construction reads now = 1: expires at 11
    uint32_t checks = 0;
    while (!d.expired()) {
      ++checks;
      REQUIRE(checks < 100);
    }
    CHECK(checks == 9);  // reads 2..10 are before the deadline, read 11 is at it
    CHECK(clock.now == 11);
  }
  SUBCASE("a zero timeout is already expired") {
    FakeClock clock;
    clock.step_us = 0;
    Deadline<FakeClock> d{clock, 0};
    CHECK(d.expired());
  }
  SUBCASE("over a TscClock") {
    FakeCpu cpu;
    cpu.tsc_step = 0;
    TscClock<SharedCpu> clock{SharedCpu{&cpu}, 1'000'000};
    Deadline<TscClock<SharedCpu>> d{clock, 50};
    cpu.tsc += 49;
    CHECK_FALSE(d.expired());
    cpu.tsc += 1;
    CHECK(d.expired());
  }
}

TEST_CASE("a timeout too long to represent never expires early") {
  // "Wait practically forever" (UINT64_MAX us) must not wrap around to an instant deadline.
  FakeClock clock;
  clock.step_us = 0;
  clock.now = 1'000;
  Deadline<FakeClock> d{clock, std::numeric_limits<uint64_t>::max()};
  CHECK_FALSE(d.expired());
  clock.delay_us(1'000'000);
  CHECK_FALSE(d.expired());
}
