// The BSP-side protocol (boot/bringup.hpp, boot/hotplug.hpp, boot/wait.hpp) and the AP entry
// (boot/ap_entry.hpp) against the recording fakes: what goes out on the ICR when a wake times
// out, when a broadcast is refused, which kernel hooks a late AP may still run, who each wake
// names as its controller, and the NMI frame rewrite of boot/nmi_entry.hpp.
#include <doctest/doctest.h>

#include <memory>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/boot/ap_entry.hpp>
#include <smpboot/boot/bringup.hpp>
#include <smpboot/boot/hotplug.hpp>
#include <smpboot/boot/nmi_entry.hpp>
#include <smpboot/boot/wait.hpp>
#include <smpboot/testing/fakes.hpp>

using namespace smpboot;
using namespace smpboot::testing;

namespace {

struct NoWait : FakeInterruptFlag {
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
  struct ApArrives : FakeInterruptFlag {
    CpuRecord* r;
    void wait(const WaitDeadline&) noexcept {
      if (r->transition(CpuState::kWakeSent, CpuState::kAlive)) (void)r->transition(CpuState::kAlive, CpuState::kOnline);
    }
  } waiter{{}, &ap};
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
    REQUIRE(begin_offline(victim, apic).ok());
    CHECK(wait_offline(victim, clock, waiter, 50).error() == Error::kCpuNeverOffline);
    REQUIRE(victim.load_state() == CpuState::kFailed);
    state.log.clear();
    CHECK(bring_online(victim, apic, clock, waiter, page(), kModernDelays, 50).error() ==
          Error::kCpuNeverOffline);
    CHECK(state.log.writes_to(0x830) == 0);  // no NMI to a live CPU0, no INIT to a live AP
    CHECK(victim.load_state() == CpuState::kFailed);
  }
}

// --- Who controls a wake ----------------------------------------------------------------------

namespace {
constexpr uint32_t kX2ApicIdMsr = 0x802;  // SDM Vol. 3A 11.12.1.2: the x2APIC ID register
constexpr uint32_t kIdBase = 10;          // record i has APIC ID kIdBase + i: none is 0

Rig& with_cpus_from(Rig& rig, uint32_t n, uint32_t caller_index) {
  for (uint32_t i = 0; i < n; ++i) REQUIRE(rig.table->add(ApicId{kIdBase + i}).ok());
  REQUIRE(mark_bsp_online((*rig.table)[0], 1, true).ok());
  rig.state.set(kX2ApicIdMsr, kIdBase + caller_index);  // the APIC the calls run on
  return rig;
}
}  // namespace

TEST_CASE("bring_up_aps names the BSP as every AP's controller, in each mode") {
  for (BringupMode mode : {BringupMode::kSerial, BringupMode::kParallel, BringupMode::kBroadcast}) {
    CAPTURE(bringup_mode_name(mode));
    Rig rig;
    auto& [table, state, apic, clock, waiter] = with_cpus_from(rig, 4, 0);
    BringupOptions o;
    o.mode = mode;
    o.timeout_us = 10;
    o.broadcast_safe = true;
    (void)bring_up_aps(*table, apic, clock, waiter, page(), o);
    for (uint32_t i = 1; i < 4; ++i) {
      CAPTURE(i);
      CHECK((*table)[i].wake_sent_us != 0);  // it was woken (and timed out: nobody answers)
      CHECK((*table)[i].controller_apic_id == kIdBase);
    }
  }
}

TEST_CASE("bring_online and begin_offline name their caller as the controller, CPU0 included") {
  Rig rig;
  auto& [table, state, apic, clock, waiter] = with_cpus_from(rig, 4, 2);  // CPU 2 controls
  SUBCASE("begin_offline: the winner's ID, for the victim's offline handler") {
    CpuRecord& victim = (*table)[0];  // CPU0 going offline tells CPU 2, not itself
    REQUIRE(begin_offline(victim, apic).ok());
    CHECK(victim.controller_apic_id == kIdBase + 2);
    state.set(kX2ApicIdMsr, kIdBase + 3);  // a second controller loses the claim: no change
    CHECK_FALSE(begin_offline(victim, apic).ok());
    CHECK(victim.controller_apic_id == kIdBase + 2);
  }
  SUBCASE("the NMI path: CPU0, the firmware BSP, woken by CPU 2") {
    CpuRecord& victim = (*table)[0];
    victim.state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
    (void)bring_online(victim, apic, clock, waiter, page(), kModernDelays, 10);
    CHECK(icr_writes(state, kIdBase, kNmi) == 1);
    CHECK(victim.controller_apic_id == kIdBase + 2);
  }
  SUBCASE("INIT/SIPI/SIPI: an AP woken by CPU 2") {
    CpuRecord& victim = (*table)[3];
    (void)bring_online(victim, apic, clock, waiter, page(), kModernDelays, 10);
    CHECK(icr_writes(state, kIdBase + 3, kStartup) >= 1);
    CHECK(victim.controller_apic_id == kIdBase + 2);
  }
}

// --- The NMI path for CPU0 (boot/nmi_entry.hpp) -----------------------------------------------

namespace {
constexpr uint64_t kEntryRip = 0xFFFF'FFFF'8010'0000;  // stands in for record_entry_thunk
constexpr ParkLoopBounds kPark{0xFFFF'FFFF'8020'0000, 0xFFFF'FFFF'8020'0010};

NmiFrame frame_at(uint64_t rip) {
  NmiFrame f{};
  f.rip = rip;
  f.cs = 0x08;
  f.ss = 0x10;
  f.rsp = 0xFFFF'FFFF'8030'0F00;
  f.rflags = 0x246;  // IF set: the NMI interrupted code that had interrupts on
  f.rdi = 0x1234;
  f.rax = 0x5678;
  return f;
}
}  // namespace

TEST_CASE("take_nmi_wake: a pending wake of its own record enters that record, like the trampoline") {
  Rig rig;
  auto& [table, state, apic, clock, waiter] = with_cpus_from(rig, 2, 1);
  CpuRecord& cpu0 = (*table)[0];
  cpu0.stack_top = 0xFFFF'FFFF'8040'0000;
  cpu0.state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
  REQUIRE(begin_wake(cpu0, clock, ApicId{kIdBase + 1}).ok());

  SUBCASE("found in the park loop") {
    NmiFrame f = frame_at(kPark.begin + 1);  // the hlt
    const NmiWakeResult r = take_nmi_wake(*table, ApicId{kIdBase}, f, kEntryRip, kPark);
    REQUIRE(r);
    CHECK(r.record == &cpu0);
    CHECK(r.in_park_loop);
    CHECK(r.interrupted_rip == kPark.begin + 1);
    CHECK(f.rip == kEntryRip);
    CHECK(f.rsp == cpu0.stack_top);
    CHECK(f.rdi == reinterpret_cast<uint64_t>(&cpu0));
    CHECK((f.rflags & kRflagsIf) == 0);
    CHECK(f.rflags == 0x046);  // only IF changes
    CHECK(f.cs == 0x08);       // CPU0 never left long mode: the kernel's own selectors
    CHECK(f.ss == 0x10);
    CHECK(f.rax == 0x5678);
  }
  SUBCASE("found anywhere else: still its wake, reported as outside the park loop") {
    NmiFrame f = frame_at(kPark.end);
    const NmiWakeResult r = take_nmi_wake(*table, ApicId{kIdBase}, f, kEntryRip, kPark);
    REQUIRE(r);
    CHECK_FALSE(r.in_park_loop);
    CHECK(r.interrupted_rip == kPark.end);
    CHECK(f.rip == kEntryRip);
  }
}

TEST_CASE("take_nmi_wake leaves every other NMI alone") {
  Rig rig;
  auto& [table, state, apic, clock, waiter] = with_cpus_from(rig, 2, 1);
  CpuRecord& cpu0 = (*table)[0];
  cpu0.stack_top = 0xFFFF'FFFF'8040'0000;
  const NmiFrame before = frame_at(kPark.begin);
  auto untouched = [&](ApicId self) {
    NmiFrame f = before;
    const NmiWakeResult r = take_nmi_wake(*table, self, f, kEntryRip, kPark);
    CHECK_FALSE(r);
    CHECK(r.record == nullptr);
    CHECK(f.rip == before.rip);
    CHECK(f.rsp == before.rsp);
    CHECK(f.rdi == before.rdi);
    CHECK(f.rflags == before.rflags);
  };
  SUBCASE("online CPU0 (a watchdog or panic NMI)") { untouched(ApicId{kIdBase}); }
  SUBCASE("a wake pending for another CPU") {
    (*table)[1].state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
    REQUIRE(begin_wake((*table)[1], clock, ApicId{kIdBase}).ok());
    untouched(ApicId{kIdBase});
  }
  SUBCASE("an APIC ID the table does not hold") { untouched(ApicId{99}); }
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
