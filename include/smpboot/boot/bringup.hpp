// The BSP side of bringing up every AP, in the order of the SDM's MP-initialization example
// (Intel SDM Vol. 3A 9.4.4.1). Generic over the policies: it includes concepts, never a
// concrete APIC or clock. It decides which CPUs to wake and reports how it went; the IPI
// sequences are wake/init_sipi.hpp's and the waiting is boot/wait.hpp's. The kernel has already
//   1. filled the CPU table (add_cpus_from_madt) and each record's stack, GDT, GS base, entry;
//   2. installed the trampoline (install_trampoline) and got its StartPage.
// Here:
//   3. mark the BSP online (mark_bsp_online);
//   4. wake the APs (bring_up_aps): serial (wake_ap_init_sipi to one AP, then wait for it),
//      parallel (wake_aps_phased to every AP, then wait for all) or broadcast
//      (wake_aps_broadcast: one all-excluding-self sequence, then wait for all);
//   5. wait (wait_for_wake, wait_for_wakes), sleeping in the Waiter between checks, until every
//      AP is online or the deadline passes; an AP still wake_sent or alive then is marked failed
//      and sent INIT, and the boot goes on.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../concepts/waiter.hpp"
#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../percpu/cpu_table.hpp"
#include "../wake/delays.hpp"
#include "../wake/init_sipi.hpp"
#include "wait.hpp"

namespace smpboot {

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
  bsp.wake_sent_us = bsp.alive_us = bsp.online_us = now_us;
  bsp.reach(BootStage::kOnline);
  if (Status s = bsp.transition(CpuState::kOffline, CpuState::kWakeSent); !s) return s;
  if (Status s = bsp.transition(CpuState::kWakeSent, CpuState::kAlive); !s) return s;
  return bsp.transition(CpuState::kAlive, CpuState::kOnline);
}

// The CPUs a bringup wakes, whatever the wake method: offline or failed (a retry), never the
// firmware BSP (no INIT to it; it is woken by NMI only, after going offline).
inline bool bringup_may_wake(const CpuRecord& r) noexcept {
  const CpuState s = r.load_state();
  return !r.is_firmware_bsp() && (s == CpuState::kOffline || s == CpuState::kFailed);
}

// The end of every bringup: online and failed CPUs counted, end_us = the last AP online.
template <uint32_t N>
void count_bringup_outcome(const CpuTable<N>& table, BringupReport& report) noexcept {
  report.end_us = report.start_us;
  for (const auto& r : table) {
    const CpuState s = r.load_state();
    if (s == CpuState::kOnline) {
      ++report.online;
      if (!r.is_firmware_bsp() && r.online_us > report.end_us) report.end_us = r.online_us;
    } else if (s == CpuState::kFailed) {
      ++report.failed;
    }
  }
}

// Steps 4 and 5. Record 0 must be the BSP, already online. Only offline or failed records
// are woken, so calling this again retries the failed ones, in serial or parallel mode; a
// broadcast while any AP runs is refused (kBroadcastWhileRunning) and sends nothing.
template <uint32_t N, LocalApic Apic, Clock Clk, Waiter W>
BringupReport bring_up_aps(CpuTable<N>& table, Apic& apic, Clk& clock, W& waiter,
                           StartPage page, const BringupOptions& options) noexcept {
  BringupReport report;
  report.intended = table.size();
  auto wakeable = [](const CpuRecord& r) { return bringup_may_wake(r); };
  if (options.mode == BringupMode::kBroadcast && !options.broadcast_safe) {
    report.error = Error::kBroadcastUnsafe;
  } else if (options.mode == BringupMode::kBroadcast && !no_ap_running(table)) {
    report.error = Error::kBroadcastWhileRunning;
  } else {
    report.start_us = clock.now_us();
    switch (options.mode) {
      case BringupMode::kSerial:
        for (auto& r : table) {
          if (wakeable(r) && wake_ap_init_sipi(apic, clock, r, page, options.delays)) {
            wait_for_wake(r, apic, clock, waiter, options.delays, options.timeout_us);
          }
        }
        break;
      case BringupMode::kParallel:
        report.esr = wake_aps_phased(table, apic, clock, page, options.delays, wakeable);
        wait_for_wakes(table, apic, clock, waiter, options.delays, options.timeout_us);
        break;
      case BringupMode::kBroadcast:
        (void)wake_aps_broadcast(table, apic, clock, page, options.delays, wakeable, report.esr);
        wait_for_wakes(table, apic, clock, waiter, options.delays, options.timeout_us);
        break;
    }
  }
  count_bringup_outcome(table, report);
  return report;
}

}  // namespace smpboot
