// The BSP side of bringing up every AP, in the order of the SDM's MP-initialization example
// (Intel SDM Vol. 3A 9.4.4.1). Generic over the policies: it includes concepts, never a
// concrete APIC or clock. The kernel has already
//   1. filled the CPU table (add_cpus_from_madt) and each record's stack, GDT, GS base, entry;
//   2. installed the trampoline (install_trampoline) and got its StartPage.
// Here:
//   3. mark the BSP online (mark_bsp_online);
//   4. wake the APs: serial (one at a time, waiting for each), parallel (INIT/SIPI/SIPI to
//      each without waiting, then wait for all) or broadcast (one all-excluding-self sequence);
//   5. wait, sleeping in the Waiter between checks, until every AP is online or the deadline
//      passes; an AP still kicked or alive then is marked failed, and the boot goes on.
#pragma once

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../core/result.hpp"
#include "../percpu/cpu_table.hpp"
#include "../wake/init_sipi.hpp"

namespace smpboot {

// How a waiting CPU passes time: it must sleep (hlt until an interrupt) under emulation, where
// a spinning vCPU starves the others. wait() returns after an interrupt or a short while.
template <class T>
concept Waiter = requires(T& w) {
  { w.wait() } noexcept -> SameAs<void>;
};

// The one way smpboot waits: until done() holds (true) or the deadline passes (false),
// sleeping in the Waiter between checks.
template <Clock Clk, Waiter W, class Done>
bool wait_until(Clk& clock, W& waiter, uint64_t timeout_us, Done&& done) noexcept {
  Deadline<Clk> deadline(clock, timeout_us);
  while (!done()) {
    if (deadline.expired()) return false;
    waiter.wait();
  }
  return true;
}

enum class BringupMode : uint8_t { kSerial, kParallel, kBroadcast };

constexpr const char* bringup_mode_name(BringupMode m) noexcept {
  return m == BringupMode::kSerial ? "serial" : m == BringupMode::kParallel ? "parallel" : "broadcast";
}

struct BringupOptions {
  BringupMode mode = BringupMode::kParallel;
  WakeDelays delays = kModernDelays;
  uint64_t timeout_us = 2'000'000;  // per AP in serial mode, for all APs otherwise
  // Broadcast reaches every APIC, including CPUs the MADT lists as disabled and CPUs left out
  // by max_cpus; the caller says whether that is safe (see broadcast_is_safe).
  bool broadcast_safe = false;
};

struct BringupReport {
  uint32_t intended = 0;  // CPUs in the table, BSP included
  uint32_t online = 0;    // BSP included
  uint32_t failed = 0;
  uint64_t start_us = 0;  // just before the first wake
  uint64_t end_us = 0;    // when the last AP came online (or the wait ended)
  Error error = Error::kNone;  // why the bringup did not run at all (e.g. kBroadcastUnsafe)
  uint32_t esr = 0;            // ESR after the parallel or broadcast sequence (0 = clean)
};

// Broadcast INIT/SIPI is only safe when it can hit no CPU outside the table: every enabled
// MADT CPU is in the table, and the MADT lists no disabled or online-capable CPUs.
template <class Census>
constexpr bool broadcast_is_safe(const Census& census) noexcept {
  return census.not_added == 0 && census.disabled == 0 && census.online_capable == 0 &&
         census.walk_error == Error::kNone;
}

// The CPU running the bringup becomes record 0's owner: online, flagged as the firmware BSP
// when it is one (IA32_APIC_BASE.BSP), so no wake path ever sends it INIT.
inline Status mark_bsp_online(CpuRecord& bsp, uint64_t now_us, bool firmware_bsp) noexcept {
  if (firmware_bsp) bsp.flags |= kCpuFlagFirmwareBsp;
  bsp.kick_us = bsp.alive_us = bsp.online_us = now_us;
  bsp.reach(BootStage::kOnline);
  if (Status s = bsp.transition(CpuState::kOffline, CpuState::kKicked); !s) return s;
  if (Status s = bsp.transition(CpuState::kKicked, CpuState::kAlive); !s) return s;
  return bsp.transition(CpuState::kAlive, CpuState::kOnline);
}

namespace detail {

constexpr bool in_flight(CpuState s) noexcept {
  return s == CpuState::kKicked || s == CpuState::kAlive;
}

// Step 5 for one record whose deadline passed: fail it unless it moved on meanwhile, and put
// a timed-out AP back into wait-for-SIPI with INIT, so a CPU that was only slow cannot run
// later on a record (and a trampoline page) that a retry or the kernel reuses. The AP parks
// itself if it reaches ap_main first (it finds its record failed); the INIT makes sure it
// also stops if it is still in the trampoline. The firmware BSP (woken by NMI) never gets
// INIT: its record stays failed and its NMI handler ignores it until the next wake.
template <LocalApic Apic>
void fail_if_still_in_flight(CpuRecord& r, Apic& apic, const WakeDelays& delays) noexcept {
  Error why = Error::kApNeverAlive;
  if (r.transition(CpuState::kKicked, CpuState::kFailed)) {
    r.fail(why);
  } else if (r.transition(CpuState::kAlive, CpuState::kFailed)) {
    why = Error::kApNeverOnline;
    r.fail(why);
  } else {
    return;
  }
  if (r.is_firmware_bsp() || !apic.can_address(r.apic())) return;
  if (Status s = apic.send(IpiCommand::init_assert(r.apic())); s && delays.init_deassert) {
    (void)apic.send(IpiCommand::init_deassert(r.apic()));
  }
}

template <uint32_t N, LocalApic Apic, Clock Clk, Waiter W>
void wait_for_all(CpuTable<N>& table, Apic& apic, Clk& clock, W& waiter,
                  const WakeDelays& delays, uint64_t timeout_us) noexcept {
  const bool all_settled = wait_until(clock, waiter, timeout_us, [&] {
    for (auto& r : table) {
      if (in_flight(r.load_state())) return false;
    }
    return true;
  });
  if (!all_settled) {
    for (auto& r : table) fail_if_still_in_flight(r, apic, delays);
  }
}

template <LocalApic Apic, Clock Clk, Waiter W>
void wait_for_one(CpuRecord& r, Apic& apic, Clk& clock, W& waiter, const WakeDelays& delays,
                  uint64_t timeout_us) noexcept {
  if (!wait_until(clock, waiter, timeout_us, [&] { return !in_flight(r.load_state()); })) {
    fail_if_still_in_flight(r, apic, delays);
  }
}

// All-excluding-self INIT resets every other CPU, so it is only safe while no AP runs: every
// record but the caller's (record 0) is offline or failed, and none of them is the firmware
// BSP (INIT would send it back into the firmware). A retry after a partial bringup must use
// parallel or serial wakes, which target the failed CPUs alone.
template <uint32_t N>
bool no_ap_running(const CpuTable<N>& table) noexcept {
  for (const auto& r : table) {
    if (r.index == 0) continue;
    const CpuState s = r.load_state();
    if (r.is_firmware_bsp() || (s != CpuState::kOffline && s != CpuState::kFailed)) return false;
  }
  return true;
}

}  // namespace detail

// Parallel wake, in phases so the delays are paid once for all APs, not once per AP: INIT to
// every AP, the INIT delay, STARTUP to every AP still waiting, the STARTUP delay, and again.
// An AP that already reached its entry (wake_pending cleared) gets no second STARTUP.
template <uint32_t N, LocalApic Apic, Clock Clk, class Wakeable>
void wake_phased(CpuTable<N>& table, Apic& apic, Clk& clock, StartPage page,
                 const WakeDelays& delays, Wakeable&& wakeable, BringupReport& report) noexcept {
  (void)apic.read_esr();
  for (auto& r : table) {
    if (!wakeable(r) || !begin_wake(r, clock)) continue;
    if (!apic.can_address(r.apic())) {
      fail_wake(r, Error::kDestinationTooWide);
      continue;
    }
    Status s = apic.send(IpiCommand::init_assert(r.apic()));
    if (s && delays.init_deassert) s = apic.send(IpiCommand::init_deassert(r.apic()));
    if (!s) fail_wake(r, s.error());
  }
  if (delays.after_init_us) clock.delay_us(delays.after_init_us);
  for (int round = 0; round < 2; ++round) {
    for (auto& r : table) {
      if (r.load_state() != CpuState::kKicked || !r.wake_pending.load(MemoryOrder::kAcquire)) continue;
      if (Status s = apic.send(IpiCommand::startup(r.apic(), page)); !s) fail_wake(r, s.error());
    }
    if (delays.after_sipi_us) clock.delay_us(delays.after_sipi_us);
  }
  report.esr = apic.read_esr();
}

// Steps 4 and 5. Record 0 must be the BSP, already online. Only offline or failed records
// are woken, so calling this again retries the failed ones, in serial or parallel mode; a
// broadcast while any AP runs is refused (kBroadcastWhileRunning) and sends nothing.
template <uint32_t N, LocalApic Apic, Clock Clk, Waiter W>
BringupReport bring_up_aps(CpuTable<N>& table, Apic& apic, Clk& clock, W& waiter,
                           StartPage page, const BringupOptions& options) noexcept {
  BringupReport report;
  report.intended = table.size();
  auto wakeable = [](const CpuRecord& r) {
    const CpuState s = r.load_state();
    return !r.is_firmware_bsp() && (s == CpuState::kOffline || s == CpuState::kFailed);
  };
  if (options.mode == BringupMode::kBroadcast && !options.broadcast_safe) {
    report.error = Error::kBroadcastUnsafe;
  } else if (options.mode == BringupMode::kBroadcast && !detail::no_ap_running(table)) {
    report.error = Error::kBroadcastWhileRunning;
  } else {
    report.start_us = clock.now_us();
    switch (options.mode) {
      case BringupMode::kSerial:
        for (auto& r : table) {
          if (!wakeable(r)) continue;
          if (wake_ap_init_sipi(apic, clock, r, page, options.delays)) {
            detail::wait_for_one(r, apic, clock, waiter, options.delays, options.timeout_us);
          }
        }
        break;
      case BringupMode::kParallel:
        wake_phased(table, apic, clock, page, options.delays, wakeable, report);
        detail::wait_for_all(table, apic, clock, waiter, options.delays, options.timeout_us);
        break;
      case BringupMode::kBroadcast: {
        for (auto& r : table) {
          if (wakeable(r)) (void)begin_wake(r, clock);
        }
        const Status sent =
            send_init_startup_startup(apic, clock, nullptr, page, options.delays, &report.esr);
        if (!sent) {
          for (auto& r : table) {
            if (r.load_state() == CpuState::kKicked) fail_wake(r, sent.error(), report.esr);
          }
        }
        detail::wait_for_all(table, apic, clock, waiter, options.delays, options.timeout_us);
        break;
      }
    }
  }
  report.end_us = report.start_us;
  for (auto& r : table) {
    const CpuState s = r.load_state();
    if (s == CpuState::kOnline) {
      ++report.online;
      if (!r.is_firmware_bsp() && r.online_us > report.end_us) report.end_us = r.online_us;
    } else if (s == CpuState::kFailed) {
      ++report.failed;
    }
  }
  return report;
}

}  // namespace smpboot
