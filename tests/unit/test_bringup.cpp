// The BSP-side protocol (boot/bringup.hpp, boot/hotplug.hpp, boot/wait.hpp) and the AP entry
// (boot/ap_entry.hpp) against the recording fakes: what goes out on the ICR when a wake times
// out, when a broadcast is refused, and which kernel hooks a late AP may still run.
#include <doctest/doctest.h>

#include <memory>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/boot/ap_entry.hpp>
#include <smpboot/boot/bringup.hpp>
#include <smpboot/boot/hotplug.hpp>
#include <smpboot/boot/wait.hpp>
#include <smpboot/testing/fakes.hpp>

using namespace smpboot;
using namespace smpboot::testing;

namespace {

struct NoWait {
  void wait(const WaitDeadline&) noexcept {}
};

StartPage page() { return StartPage::from_phys(0x8000).value(); }

// ICR writes (MSR 0x830) to `id` with delivery mode `mode` (bits 10:8).
uint32_t icr_writes(const FakeMsrState& s, uint32_t id, uint32_t mode) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.log.count; ++i) {
    const Access& a = s.log.entries[i];
    n += a.kind == AccessKind::kWrite && a.reg == 0x830 && uint32_t(a.value >> 32) == id &&
         ((a.value >> 8) & 7) == mode && ((a.value >> 18) & 3) == 0;
  }
  return n;
}
constexpr uint32_t kInit = 5, kStartup = 6, kNmi = 4;

template <uint32_t N>
void fill(CpuTable<N>& t, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) REQUIRE(t.add(ApicId{i}).ok());
  REQUIRE(mark_bsp_online(t[0], 1, true).ok());
}

// A table of `n` CPUs (BSP online) and the x2APIC, clock and waiter a bringup runs on.
struct Rig {
  std::unique_ptr<CpuTable<8>> table = std::make_unique<CpuTable<8>>();
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  FakeClock clock;
  NoWait waiter;
};
Rig& with_cpus(Rig& rig, uint32_t n) {
  fill(*rig.table, n);
  return rig;
}

}  // namespace

TEST_CASE("a timed-out AP is put back into wait-for-SIPI with INIT; nobody else is") {
  Rig rig;
  auto& [table, state, apic, clock, waiter] = with_cpus(rig, 4);
  BringupOptions o;
  o.timeout_us = 100;
  // APs 1 and 2 "arrive" (alive, online) as soon as they are wake_sent; AP 3 never does.
  const auto report = bring_up_aps(*table, apic, clock, waiter, page(), [&] {
    BringupOptions p = o;
    p.mode = BringupMode::kParallel;
    return p;
  }());
  (void)report;
  // Nobody answered in this fake world: all three timed out, each got exactly one INIT for
  // the wake and one more after its timeout; the BSP none.
  for (uint32_t id = 1; id <= 3; ++id) {
    CAPTURE(id);
    CHECK((*table)[id].load_state() == CpuState::kFailed);
    CHECK((*table)[id].error == Error::kApNeverAlive);
    CHECK(icr_writes(state, id, kInit) == 2);
  }
  CHECK(icr_writes(state, 0, kInit) == 0);
}

TEST_CASE("fail_timed_out_wake: only a wake still in flight fails; only an AP gets INIT") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 4);
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  CpuRecord& wake_sent = (*table)[1];
  CpuRecord& alive = (*table)[2];
  CpuRecord& online = (*table)[3];
  wake_sent.state.store(uint32_t(CpuState::kWakeSent), MemoryOrder::kRelaxed);
  alive.state.store(uint32_t(CpuState::kAlive), MemoryOrder::kRelaxed);
  online.state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
  for (uint32_t i = 1; i < 4; ++i) fail_timed_out_wake((*table)[i], apic, kSpecDelays);
  CHECK(wake_sent.error == Error::kApNeverAlive);
  CHECK(alive.error == Error::kApNeverOnline);
  CHECK(online.load_state() == CpuState::kOnline);
  // INIT and, with the spec delays, its de-assert: same mode 101b, the de-assert level-triggered.
  CHECK(icr_writes(state, 1, kInit) == 2);
  CHECK(icr_writes(state, 2, kInit) == 2);
  CHECK(icr_writes(state, 3, kInit) == 0);

  SUBCASE("the firmware BSP, woken by NMI, is failed but never sent INIT") {
    CpuRecord& bsp = (*table)[0];
    bsp.state.store(uint32_t(CpuState::kWakeSent), MemoryOrder::kRelaxed);
    state.log.clear();
    fail_timed_out_wake(bsp, apic, kSpecDelays);
    CHECK(bsp.load_state() == CpuState::kFailed);
    CHECK(state.log.writes_to(0x830) == 0);
  }
}

TEST_CASE("an AP that moved on before its deadline gets no INIT") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 2);
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  FakeClock clock;
  CpuRecord& ap = (*table)[1];
  // The AP reaches online during the wait: a waiter that plays the AP.
  struct ApArrives {
    CpuRecord* r;
    void wait(const WaitDeadline&) noexcept {
      if (r->transition(CpuState::kWakeSent, CpuState::kAlive)) (void)r->transition(CpuState::kAlive, CpuState::kOnline);
    }
  } waiter{&ap};
  BringupOptions o;
  o.mode = BringupMode::kSerial;
  o.timeout_us = 1000;
  const auto report = bring_up_aps(*table, apic, clock, waiter, page(), o);
  CHECK(report.online == 2);
  CHECK(icr_writes(state, 1, kInit) == 1);  // the wake's own INIT only
  CHECK(icr_writes(state, 1, kStartup) == 2);
}

TEST_CASE("broadcast while an AP runs is refused and sends nothing; targeted retries work") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 4);
  (*table)[1].state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
  (*table)[2].state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
  (*table)[3].state.store(uint32_t(CpuState::kFailed), MemoryOrder::kRelaxed);
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  FakeClock clock;
  NoWait waiter;
  BringupOptions o;
  o.mode = BringupMode::kBroadcast;
  o.broadcast_safe = true;  // the MADT census allows it; the running APs do not
  const auto report = bring_up_aps(*table, apic, clock, waiter, page(), o);
  CHECK(report.error == Error::kBroadcastWhileRunning);
  CHECK(state.log.writes_to(0x830) == 0);
  CHECK((*table)[1].load_state() == CpuState::kOnline);
  CHECK((*table)[3].load_state() == CpuState::kFailed);

  SUBCASE("a going-down or wake_sent AP blocks it too") {
    for (CpuState s : {CpuState::kGoingDown, CpuState::kWakeSent, CpuState::kAlive}) {
      for (uint32_t i = 1; i < 4; ++i) (*table)[i].state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
      (*table)[2].state.store(uint32_t(s), MemoryOrder::kRelaxed);
      CHECK(bring_up_aps(*table, apic, clock, waiter, page(), o).error == Error::kBroadcastWhileRunning);
    }
  }
  SUBCASE("every AP offline or failed: the broadcast goes out") {
    (*table)[1].state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
    (*table)[2].state.store(uint32_t(CpuState::kFailed), MemoryOrder::kRelaxed);
    o.timeout_us = 10;
    CHECK(bring_up_aps(*table, apic, clock, waiter, page(), o).error == Error::kNone);
    CHECK(state.log.writes_to(0x830) > 0);
  }
}

TEST_CASE("bring_online refuses a CPU whose offline never completed: it may still be running") {
  Rig rig;
  auto& [table, state, apic, clock, waiter] = with_cpus(rig, 2);
  for (uint32_t i : {0u, 1u}) {
    CAPTURE(i);
    CpuRecord& victim = (*table)[i];
    victim.state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
    REQUIRE(begin_offline(victim).ok());
    CHECK(wait_offline(victim, clock, waiter, 50).error() == Error::kCpuNeverOffline);
    REQUIRE(victim.load_state() == CpuState::kFailed);
    state.log.clear();
    CHECK(bring_online(victim, apic, clock, waiter, page(), kModernDelays, 50).error() ==
          Error::kCpuNeverOffline);
    CHECK(state.log.count == 0);  // no NMI to a live CPU0, no INIT to a live AP
    CHECK(victim.load_state() == CpuState::kFailed);
  }
}

// --- The AP entry ----------------------------------------------------------------------------

namespace {
struct HookLog {
  int installs = 0, setups = 0, announces = 0, runs = 0;
  BootStage stage_at_install = BootStage::kNone;
};
inline HookLog g_hooks;

struct RecordingPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    ++g_hooks.installs;
    g_hooks.stage_at_install = r.load_stage();
  }
  static uint64_t now_us() noexcept { return 42; }
  static bool cpu_setup(CpuRecord&) noexcept { return ++g_hooks.setups, true; }
  static void announce_online(CpuRecord&) noexcept { ++g_hooks.announces; }
  static void run(CpuRecord&) noexcept { ++g_hooks.runs; }
  static void park(CpuRecord&) noexcept {}
};
static_assert(ApPlatform<RecordingPlatform>);
}  // namespace

TEST_CASE("ap_main: a late AP runs no kernel hook; an awaited one records alive then online") {
  g_hooks = {};
  CpuRecord r;
  SUBCASE("the controller already gave up (failed): park, touching nothing of the kernel's") {
    r.state.store(uint32_t(CpuState::kFailed), MemoryOrder::kRelaxed);
    r.reach(BootStage::kLong);
    CHECK(ap_main<RecordingPlatform>(&r) == ApExit::kLate);
    CHECK(g_hooks.installs == 0);
    CHECK(g_hooks.setups == 0);
    CHECK(g_hooks.announces == 0);
    CHECK(r.load_stage() == BootStage::kLong);
  }
  SUBCASE("wake_sent: alive before the kernel's hooks, online after its setup") {
    r.state.store(uint32_t(CpuState::kWakeSent), MemoryOrder::kRelaxed);
    CHECK(ap_main<RecordingPlatform>(&r) == ApExit::kWentOffline);
    CHECK(g_hooks.stage_at_install == BootStage::kAlive);
    CHECK(r.load_stage() == BootStage::kOnline);
    CHECK(g_hooks.runs == 1);
  }
}
