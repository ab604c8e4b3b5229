// The record steps shared by every wake method (wake/wake_record.hpp) and the one deadline
// wait (boot/bringup.hpp): what a wake leaves in the boot record, whichever method sent it.
#include <doctest/doctest.h>

#include <initializer_list>

#include <smpboot/boot/bringup.hpp>
#include <smpboot/testing/fakes.hpp>
#include <smpboot/wake/wake_record.hpp>

using namespace smpboot;

TEST_CASE("begin_wake: offline or failed -> kicked, pending, this wake's times only") {
  testing::FakeClock clock;
  for (CpuState from : {CpuState::kOffline, CpuState::kFailed}) {
    CpuRecord r;
    r.state.store(uint32_t(from), MemoryOrder::kRelaxed);
    r.alive_us = r.online_us = 77;  // left over from an earlier wake
    r.error = uint32_t(Error::kApNeverAlive);
    r.esr = 4;
    REQUIRE(begin_wake(r, clock).ok());
    CHECK(r.load_state() == CpuState::kKicked);
    CHECK(r.wake_pending.load(MemoryOrder::kRelaxed) == 1);
    CHECK(r.kick_us != 0);
    CHECK(r.alive_us == 0);
    CHECK(r.online_us == 0);
    CHECK(Error(r.error) == Error::kNone);
    CHECK(r.esr == 0);
  }
}

TEST_CASE("begin_wake refuses a CPU that is running or already being woken") {
  testing::FakeClock clock;
  for (CpuState from : {CpuState::kKicked, CpuState::kAlive, CpuState::kOnline, CpuState::kGoingDown}) {
    CpuRecord r;
    r.state.store(uint32_t(from), MemoryOrder::kRelaxed);
    CHECK(begin_wake(r, clock).error() == Error::kIllegalTransition);
    CHECK(r.load_state() == from);
    CHECK(r.wake_pending.load(MemoryOrder::kRelaxed) == 0);
  }
}

TEST_CASE("fail_wake records why; a CPU that started anyway keeps its progress") {
  testing::FakeClock clock;
  CpuRecord r;
  REQUIRE(begin_wake(r, clock).ok());
  SUBCASE("still kicked: failed, with the error and ESR bits") {
    fail_wake(r, Error::kDeliveryError, 0x04);
    CHECK(r.load_state() == CpuState::kFailed);
    CHECK(Error(r.error) == Error::kDeliveryError);
    CHECK(r.esr == 0x04);
  }
  SUBCASE("the AP already moved to alive: the state is its, the error is still kept") {
    REQUIRE(r.transition(CpuState::kKicked, CpuState::kAlive).ok());
    fail_wake(r, Error::kIcrBusyTimeout);
    CHECK(r.load_state() == CpuState::kAlive);
    CHECK(Error(r.error) == Error::kIcrBusyTimeout);
  }
}

namespace {
struct CountingWaiter {
  int waits = 0;
  void wait() noexcept { ++waits; }
};
}  // namespace

TEST_CASE("wait_until: true as soon as done, false once the deadline passes") {
  testing::FakeClock clock;
  clock.step_us = 10;
  CountingWaiter waiter;
  int calls = 0;
  CHECK(wait_until(clock, waiter, 1000, [&] { return ++calls == 3; }));
  CHECK(waiter.waits == 2);
  waiter.waits = 0;
  CHECK_FALSE(wait_until(clock, waiter, 100, [] { return false; }));
  CHECK(waiter.waits >= 4);   // it slept between checks ...
  CHECK(waiter.waits <= 11);  // ... and stopped at the deadline
}
