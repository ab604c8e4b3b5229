// Waiting, once for the whole library: the one deadline wait (wait_until), and the BSP side of
// a wake's end (step 5 of boot/bringup.hpp, and bring_online in boot/hotplug.hpp): wait until
// the woken CPUs leave wake_sent/alive or their deadline passes, then fail each that did not and
// send it INIT. Between checks the waiting CPU sleeps in the kernel's Waiter, never spins.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../concepts/waiter.hpp"
#include "../core/result.hpp"
#include "../percpu/cpu_table.hpp"
#include "../wake/delays.hpp"
#include "../wake/init_sipi.hpp"

namespace smpboot {

// Until done() holds (true) or the deadline passes (false), sleeping in the Waiter between
// checks. done() is checked once more after every wait, never assumed. Each wait() is told
// the deadline and the time left, so a waiter whose only wake source is a timer it arms
// itself still returns in time when the CPU waited for is dead and sends nothing. A timeout
// too long to represent saturates to WaitDeadline::kNever rather than wrapping around.
// Interrupts are masked from before the first check to after the last, whatever the caller's
// state, and restored on return (the interrupt window in concepts/waiter.hpp): a wake IPI that
// arrives between a check and the sleep stays pending and ends that sleep.
template <Clock Clk, Waiter W, class Done>
bool wait_until(Clk& clock, W& waiter, uint64_t timeout_us, Done&& done) noexcept {
  const InterruptsSaved saved = waiter.mask_interrupts();
  const uint64_t start_us = clock.now_us();
  const uint64_t deadline_us = timeout_us > WaitDeadline::kNever - start_us
                                   ? WaitDeadline::kNever
                                   : start_us + timeout_us;
  bool settled = true;
  while (!done()) {
    const uint64_t now_us = clock.now_us();
    if (deadline_us != WaitDeadline::kNever && now_us >= deadline_us) {
      settled = false;
      break;
    }
    waiter.wait(WaitDeadline{.deadline_us = deadline_us, .remaining_us = deadline_us - now_us});
  }
  waiter.restore_interrupts(saved);
  return settled;
}

// A wake is in flight while its AP has not settled: wake_sent (not yet at its entry) or alive
// (in its own setup).
constexpr bool wake_in_flight(CpuState s) noexcept {
  return s == CpuState::kWakeSent || s == CpuState::kAlive;
}

// For one record whose deadline passed: fail it unless it moved on meanwhile, and put a
// timed-out AP back into wait-for-SIPI with INIT, so a CPU that was only slow cannot run later
// on a record (and a trampoline page) that a retry or the kernel reuses. The AP parks itself if
// it reaches ap_main first (it finds its record failed); the INIT makes sure it also stops if
// it is still in the trampoline. The firmware BSP (woken by NMI) never gets INIT: its record
// stays failed and its NMI handler ignores it until the next wake.
template <LocalApic Apic>
void fail_timed_out_wake(CpuRecord& r, Apic& apic, const WakeDelays& delays) noexcept {
  if (r.transition(CpuState::kWakeSent, CpuState::kFailed)) {
    r.fail(Error::kApNeverAlive);
  } else if (r.transition(CpuState::kAlive, CpuState::kFailed)) {
    r.fail(Error::kApNeverOnline);
  } else {
    return;
  }
  if (r.is_firmware_bsp() || !apic.can_address(r.apic())) return;
  (void)send_init(apic, WakeTarget::one(r.apic()), delays);
}

// Waits for the wake of one record to settle; on timeout, fail_timed_out_wake.
template <LocalApic Apic, Clock Clk, Waiter W>
void wait_for_wake(CpuRecord& r, Apic& apic, Clk& clock, W& waiter, const WakeDelays& delays,
                   uint64_t timeout_us) noexcept {
  if (!wait_until(clock, waiter, timeout_us, [&] { return !wake_in_flight(r.load_state()); })) {
    fail_timed_out_wake(r, apic, delays);
  }
}

// Waits for every wake in the table to settle, with one deadline for all; on timeout, every
// record still in flight gets fail_timed_out_wake.
template <uint32_t N, LocalApic Apic, Clock Clk, Waiter W>
void wait_for_wakes(CpuTable<N>& table, Apic& apic, Clk& clock, W& waiter,
                    const WakeDelays& delays, uint64_t timeout_us) noexcept {
  const bool all_settled = wait_until(clock, waiter, timeout_us, [&] {
    for (auto& r : table) {
      if (wake_in_flight(r.load_state())) return false;
    }
    return true;
  });
  if (!all_settled) {
    for (auto& r : table) fail_timed_out_wake(r, apic, delays);
  }
}

}  // namespace smpboot
