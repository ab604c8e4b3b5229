// The torture. Who drives: a token (g_token = the controller's CPU index). The holder runs one
// cycle from its idle hook, then hands the token with an IPI to a random controller: an online
// CPU that has a victim it may take down. All torture state is touched only by the holder; the
// hand-off is a release/acquire on the token. A run that cannot complete every requested cycle
// (no such pair, before or during the run) is a failure with a NOTE saying why.
//
// One cycle: offline the victim (it parks itself), wake it (NMI for CPU0 after checking that
// INIT to it is refused, INIT/SIPI/SIPI for an AP), wait for online, then ping it: the victim
// answers only after checking that its GS base, stack, GDT and IDT are those of its own record.
#include "torture.hpp"

namespace kernel {
namespace {

struct TortureState {
  static constexpr uint32_t kMaxSamples = 2048;
  uint32_t cycles_target = 0;
  uint32_t cycles_done = 0;
  uint32_t failures = 0;
  uint32_t cpu0_cycles = 0;
  uint32_t init_bsp_refusals = 0;
  uint64_t rng = 1;
  uint32_t samples = 0;
  uint32_t offline_us[kMaxSamples] = {};
  uint32_t online_us[kMaxSamples] = {};
  BringupReport bringup;
  const char* apic_name = "xapic";
};

constinit TortureState g_torture;
constexpr uint32_t kNoToken = 0xFFFF'FFFFu;
constinit Atomic<uint32_t> g_token{kNoToken};

// The watchdog: one CPU (the last, with 3 or more) stays out of the torture and checks, on
// its APIC-timer tick, that cycles keep completing. No progress for smp.watchdog_ms turns a
// hang (a controller stuck with interrupts off, a victim that never parks) into a reported
// failure instead of a silent emulator timeout.
constexpr uint32_t kNoWatchdog = 0xFFFF'FFFFu;
constinit uint32_t g_watchdog_index = kNoWatchdog;
constinit Atomic<uint64_t> g_last_progress_us{0};

uint64_t next_random() {
  uint64_t x = g_torture.rng;  // xorshift64 (Marsaglia 2003): reproducible from smp.seed
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return g_torture.rng = x;
}

uint32_t median(uint32_t* v, uint32_t n) {
  for (uint32_t i = 1; i < n; ++i) {
    const uint32_t key = v[i];
    uint32_t j = i;
    for (; j > 0 && v[j - 1] > key; --j) v[j] = v[j - 1];
    v[j] = key;
  }
  return n == 0 ? 0 : v[n / 2];
}

// kPingVector: prove we run on our own boot data, then answer.
template <ApicMode M>
void on_ping(platform::InterruptFrame&) {
  CpuRecord* self = my_record<M>();
  if (self != nullptr) {
    PerCpu& own = percpu_of(*self);
    if (uint32_t bad = boot_data_mismatches(*self)) own.check_failures.fetch_add(bad, MemoryOrder::kRelaxed);
    own.pings.fetch_add(1, MemoryOrder::kRelease);
  }
  lapic_eoi<M>();
}

// A CPU the torture may take down: online, not the watchdog, and the fixed victim if one was
// given, else any CPU but CPU0 unless smp.torture_cpu0=1.
bool victim_candidate(const CpuRecord& r) {
  if (r.load_state() != CpuState::kOnline || r.index == g_watchdog_index) return false;
  if (g_config.torture_victim != SmpConfig::kAnyVictim) return r.index == g_config.torture_victim;
  return g_config.torture_cpu0 || !r.is_firmware_bsp();
}

uint32_t count_victim_candidates() {
  uint32_t n = 0;
  for (const auto& r : g_cpus) n += victim_candidate(r);
  return n;
}

// A controller is an online CPU, not the watchdog, that has a victim other than itself: a
// token handed to a CPU with nothing to take down would end the torture early.
bool controller_allowed(const CpuRecord& r, uint32_t victim_candidates) {
  return r.load_state() == CpuState::kOnline && r.index != g_watchdog_index &&
         victim_candidates > uint32_t(victim_candidate(r));
}

template <class Allowed>
CpuRecord* pick(Allowed allowed) {
  uint32_t candidates = 0;
  for (const auto& r : g_cpus) candidates += allowed(r);
  if (candidates == 0) return nullptr;
  uint32_t k = uint32_t(next_random() % candidates);
  for (auto& r : g_cpus) {
    if (allowed(r) && k-- == 0) return &r;
  }
  return nullptr;
}

CpuRecord* pick_victim(const CpuRecord& controller) {
  return pick([&](const CpuRecord& r) { return &r != &controller && victim_candidate(r); });
}

uint32_t count_controllers() {
  const uint32_t victims = count_victim_candidates();
  uint32_t n = 0;
  for (const auto& r : g_cpus) n += controller_allowed(r, victims);
  return n;
}

CpuRecord* pick_controller() {
  const uint32_t victims = count_victim_candidates();
  return pick([victims](const CpuRecord& r) { return controller_allowed(r, victims); });
}

// Prints the TORTURE line and the report. A run that did not complete every requested cycle
// is a failure (its caller has printed why), as is any failed cycle.
[[noreturn]] void finish_torture() {
  TortureState& t = g_torture;
  platform::kprintf(
      "SMPBOOT TORTURE cycles=%u failures=%u cpu0_cycles=%u offline_median_us=%u "
      "online_median_us=%u\n",
      t.cycles_done, t.failures, t.cpu0_cycles, median(t.offline_us, t.samples),
      median(t.online_us, t.samples));
  platform::kprintf("SMPBOOT NOTE torture init_to_bsp_refusals=%u seed=%lu\n", t.init_bsp_refusals,
                    (unsigned long)g_config.seed);
  const bool incomplete = t.cycles_done < t.cycles_target;
  if (incomplete) {
    platform::kprintf("SMPBOOT NOTE torture incomplete: %u of %u cycles\n", t.cycles_done,
                      t.cycles_target);
  }
  t.bringup.failed = g_cpus.count_in(CpuState::kFailed);
  t.bringup.online = g_cpus.count_in(CpuState::kOnline);
  finish(print_report(t.bringup, t.apic_name, t.failures + incomplete));
}

// Whether at least one (controller, victim) pair exists before the first cycle; if not, a
// NOTE says why.
bool torture_can_run() {
  const uint32_t n = g_cpus.size();
  const uint32_t victim = g_config.torture_victim;
  const bool fixed = victim != SmpConfig::kAnyVictim;
  if (n < 2) {
    platform::kprintf("SMPBOOT NOTE torture cannot run: only one CPU (a cycle needs a controller "
                      "and a victim)\n");
  } else if (fixed && victim >= n) {
    platform::kprintf("SMPBOOT NOTE torture cannot run: no such victim: smp.torture_victim=%u, "
                      "the CPUs are 0..%u\n", victim, n - 1);
  } else if (fixed && victim == g_watchdog_index) {
    platform::kprintf("SMPBOOT NOTE torture cannot run: victim cpu %u is the watchdog CPU (the "
                      "last CPU, with 3 or more)\n", victim);
  } else if (fixed && g_cpus[victim].load_state() != CpuState::kOnline) {
    platform::kprintf("SMPBOOT NOTE torture cannot run: victim cpu %u is %s after the bringup\n",
                      victim, cpu_state_name(g_cpus[victim].load_state()));
  } else if (count_controllers() == 0) {
    platform::kprintf("SMPBOOT NOTE torture cannot run: no online CPU has another online CPU to "
                      "take down%s\n",
                      g_config.torture_cpu0 ? "" : " (CPU0 is a victim only with smp.torture_cpu0=1)");
  } else {
    return true;
  }
  return false;
}

// One offline/online/check cycle with `me` as the controller, then the token moves on.
template <ApicMode M>
void torture_cycle(CpuRecord& me) {
  TortureState& t = g_torture;
  auto apic = make_apic<M>();
  auto clock = tsc_clock();
  HaltWaiter waiter;
  apic.start_periodic_timer(kTimerVector, g_timer_counts_per_ms);

  CpuRecord* victim = pick_victim(me);
  if (victim == nullptr) {  // the token only goes to CPUs with a victim: a bug if reached
    apic.stop_timer();
    platform::kprintf("SMPBOOT NOTE torture stopped: controller cpu %u has no online CPU to take "
                      "down\n", me.index);
    finish_torture();
  }
  const bool cpu0 = victim->is_firmware_bsp();
  bool ok = true;
  if (g_config.inject_controller_hang && t.cycles_done == t.cycles_target / 2) {
    apic.stop_timer();
    park_forever();  // smp.inject=controller_hang: stuck with interrupts off
  }

  // Offline: claim, interrupt, wait until it parked.
  const uint64_t t0 = clock.now_us();
  ok = take_offline<M>(*victim, 1'000'000).ok();
  const uint64_t t1 = clock.now_us();

  // Online: CPU0 must refuse INIT (typed error, record untouched), then wakes by NMI.
  if (ok && cpu0) {
    const Status init = wake_ap_init_sipi(apic, clock, *victim, g_start_page, g_config.resolve_delays());
    if (init.error() == Error::kInitToBsp && victim->load_state() == CpuState::kOffline) {
      ++t.init_bsp_refusals;
    } else {
      ok = false;
    }
  }
  if (ok) {
    if (!cpu0) g_last_woken_ap.store(victim, MemoryOrder::kRelease);
    const uint32_t outside_before = nmi_wakes_outside_park();
    ok = bring_back_online<M>(*victim, 1'000'000).ok();
    if (nmi_wakes_outside_park() != outside_before) {
      ok = false;
      platform::kprintf("SMPBOOT NOTE nmi_wake_outside_park cycle=%u victim=%u rip=0x%lx\n",
                        t.cycles_done, victim->index, (unsigned long)nmi_wake_outside_park_rip());
    }
  }
  const uint64_t t2 = clock.now_us();

  // Check: the victim answers an IPI, after checking its own GS base, stack, GDT and IDT.
  if (ok) {
    PerCpu& v = percpu_of(*victim);
    const uint32_t pings = v.pings.load(MemoryOrder::kAcquire);
    const uint32_t bad_before = v.check_failures.load(MemoryOrder::kAcquire);
    (void)apic.send(IpiCommand::fixed(victim->apic(), kPingVector));
    ok = wait_until(clock, waiter, 1'000'000,
                    [&] { return v.pings.load(MemoryOrder::kAcquire) != pings; }) &&
         v.check_failures.load(MemoryOrder::kAcquire) == bad_before;
  }
  if (!ok) {
    ++t.failures;
    platform::kprintf("SMPBOOT NOTE torture cycle=%u controller=%u victim=%u state=%s error=%s\n",
                      t.cycles_done, me.index, victim->index, cpu_state_name(victim->load_state()),
                      error_name(victim->error));
  } else if (t.samples < TortureState::kMaxSamples) {
    t.offline_us[t.samples] = uint32_t(t1 - t0);
    t.online_us[t.samples] = uint32_t(t2 - t1);
    ++t.samples;
  }
  ++t.cycles_done;
  t.cpu0_cycles += cpu0;
  g_last_progress_us.store(clock.now_us(), MemoryOrder::kRelease);

  // Hand the token to a random controller (possibly ourselves).
  apic.stop_timer();
  if (t.cycles_done == t.cycles_target) finish_torture();
  CpuRecord* next = pick_controller();
  if (next == nullptr) {  // a failed cycle left no victim that is online
    platform::kprintf("SMPBOOT NOTE torture stopped after %u cycles: no online CPU has another "
                      "online CPU to take down\n", t.cycles_done);
    finish_torture();
  }
  g_token.store(next->index, MemoryOrder::kRelease);
  if (next != &me) (void)apic.send(IpiCommand::fixed(next->apic(), kWakeVector));
}

template <ApicMode M>
[[noreturn]] void watchdog_loop() {
  auto apic = make_apic<M>();
  auto clock = tsc_clock();
  apic.start_periodic_timer(kTimerVector, g_timer_counts_per_ms * 100);  // 100 ms tick
  g_last_progress_us.store(clock.now_us(), MemoryOrder::kRelease);
  for (;;) {
    asm volatile("sti; hlt; cli" ::: "memory");
    const uint64_t last = g_last_progress_us.load(MemoryOrder::kAcquire);
    const uint64_t now = clock.now_us();
    if (now <= last || now - last < uint64_t(g_config.watchdog_ms) * 1000) continue;
    apic.stop_timer();
    TortureState& t = g_torture;  // the holder is stuck: read what it last wrote
    ++t.failures;
    platform::kprintf("SMPBOOT NOTE torture watchdog: no cycle completed for %u ms after cycle %u "
                      "(token at cpu %u)\n", g_config.watchdog_ms, t.cycles_done,
                      g_token.load(MemoryOrder::kAcquire));
    finish_torture();
  }
}

// The idle hook of every online CPU while the torture runs.
template <ApicMode M>
void torture_idle(CpuRecord& self) {
  if (self.index == g_watchdog_index) watchdog_loop<M>();  // set before this CPU's first wake
  // A holder may hand the token to itself (no IPI then): keep going while it is ours.
  while (g_token.load(MemoryOrder::kAcquire) == self.index && self.load_state() == CpuState::kOnline) {
    torture_cycle<M>(self);
  }
}

}  // namespace

template <ApicMode M>
void run_torture(const BringupReport& bringup) {
  auto apic = make_apic<M>();
  platform::set_handler(kPingVector, on_ping<M>);
  if (g_cpus.size() > 1) g_last_woken_ap.store(&g_cpus[g_cpus.size() - 1], MemoryOrder::kRelease);
  g_torture.cycles_target = g_config.torture;
  g_torture.rng = g_config.seed;
  g_torture.bringup = bringup;
  g_torture.apic_name = apic_mode_name(M);
  if (g_cpus.size() >= 3) g_watchdog_index = g_cpus.size() - 1;
  if (!torture_can_run()) finish_torture();
  g_idle_hook.store(&torture_idle<M>, MemoryOrder::kRelease);
  if (g_watchdog_index != kNoWatchdog) {
    (void)apic.send(IpiCommand::fixed(g_cpus[g_watchdog_index].apic(), kWakeVector));
  }
  CpuRecord* first = pick_controller();  // not null: torture_can_run found one
  g_token.store(first->index, MemoryOrder::kRelease);
  CpuRecord& bsp = g_cpus[0];
  if (first != &bsp) (void)apic.send(IpiCommand::fixed(first->apic(), kWakeVector));
  idle_loop<M>(bsp);  // the BSP becomes an ordinary idle CPU
}

template void run_torture<ApicMode::kXApic>(const BringupReport&);
template void run_torture<ApicMode::kX2Apic>(const BringupReport&);

}  // namespace kernel
