// Waking APs with INIT, STARTUP, STARTUP (Intel SDM Vol. 3A 9.4.4.1 "Typical BSP
// Initialization Sequence"; 11.6.1 on each delivery mode): the sequence once, and the three
// ways of sending it: to one AP (serial), to many APs in phases (parallel), and to every CPU
// but the sender with one shorthand (broadcast). The second STARTUP covers a first one that
// was lost; an AP that already started ignores it (9.4.3: a started AP is not in wait-for-SIPI
// state). No path sends INIT to the firmware BSP: INIT sends it back into the firmware
// (measured in QEMU and Bochs: the machine is lost), so it is woken by NMI (nmi.hpp).
// Which CPUs to wake and how long to wait for them is the protocol's (boot/bringup.hpp).
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../percpu/cpu_table.hpp"
#include "delays.hpp"
#include "wake_record.hpp"

namespace smpboot {

// Who an INIT or STARTUP goes to: one APIC ID (physical destination), or every CPU but the
// sender through the all-excluding-self shorthand, which ignores the destination field (SDM
// 11.6.1, "Destination Shorthand"). Only the two named constructors make one.
class WakeTarget {
 public:
  static constexpr WakeTarget one(ApicId id) noexcept { return {id, Shorthand::kNone}; }
  static constexpr WakeTarget all_excluding_self() noexcept {
    return {ApicId{0}, Shorthand::kAllExcludingSelf};
  }

  constexpr IpiCommand init_assert() const noexcept {
    return addressed(IpiCommand::init_assert(id_));
  }
  constexpr IpiCommand init_deassert() const noexcept {
    return addressed(IpiCommand::init_deassert(id_));
  }
  constexpr IpiCommand startup(StartPage page) const noexcept {
    return addressed(IpiCommand::startup(id_, page));
  }

 private:
  constexpr WakeTarget(ApicId id, Shorthand shorthand) noexcept : id_(id), shorthand_(shorthand) {}
  constexpr IpiCommand addressed(IpiCommand c) const noexcept {
    c.shorthand = shorthand_;
    return c;
  }
  ApicId id_;
  Shorthand shorthand_;
};

// The broadcast target sends the SDM's golden values (hw/icr.hpp checks their encoding).
static_assert(WakeTarget::all_excluding_self().init_assert() ==
              IpiCommand::init_assert_all_excluding_self());
static_assert(WakeTarget::all_excluding_self().startup(StartPage::from_phys(0x8000).value()) ==
              IpiCommand::startup_all_excluding_self(StartPage::from_phys(0x8000).value()));
// Its de-assert keeps the shorthand too: all-excluding-self, level, de-assert, INIT.
static_assert(icr::encode_low(WakeTarget::all_excluding_self().init_deassert()) == 0x000C8500u);

// INIT, then its level de-assert when the delays ask for it (MP spec 1.4 B.4; SDM 11.6.1
// "INIT Level De-assert"). Also what puts a timed-out AP back into wait-for-SIPI.
template <LocalApic Apic>
Status send_init(Apic& apic, WakeTarget target, const WakeDelays& delays) noexcept {
  Status sent = apic.send(target.init_assert());
  if (sent && delays.init_deassert) sent = apic.send(target.init_deassert());
  return sent;
}

namespace detail {

// The sequence's shape, once for every way of sending it: clear the ESR (SDM 11.5.3: it
// collects the errors of every IPI until it is read), the INIT phase, the INIT delay, twice the
// STARTUP phase and its delay, then read the ESR and return it. Each phase sends to every
// target the caller has and says whether the sequence goes on: once nothing is left to start,
// no delay is paid.
template <LocalApic Apic, Clock Clk, class InitPhase, class StartupPhase>
uint32_t init_startup_startup(Apic& apic, Clk& clock, const WakeDelays& delays,
                              InitPhase&& init_phase, StartupPhase&& startup_phase) noexcept {
  (void)apic.read_esr();
  if (init_phase()) {
    if (delays.after_init_us) clock.delay_us(delays.after_init_us);
    for (int round = 0; round < 2 && startup_phase(); ++round) {
      if (delays.after_sipi_us) clock.delay_us(delays.after_sipi_us);
    }
  }
  return apic.read_esr();
}

// Starts the INIT/SIPI/SIPI wake of one record without touching the APIC: never for the
// firmware BSP (kInitToBsp, record untouched), only a record begin_wake moves to wake_sent, and
// only for an ID this APIC mode can address (else the record fails with kDestinationTooWide).
// `controller` is the caller's own APIC ID, read once per sequence (CpuRecord::controller_apic_id).
template <LocalApic Apic, Clock Clk>
Status begin_init_sipi_wake(const Apic& apic, Clk& clock, CpuRecord& record,
                            ApicId controller) noexcept {
  if (record.is_firmware_bsp()) return Error::kInitToBsp;
  if (Status s = begin_wake(record, clock, controller); !s) return s;
  if (apic.can_address(record.apic())) return {};
  fail_wake(record, Error::kDestinationTooWide);
  return Error::kDestinationTooWide;
}

}  // namespace detail

// The sequence to one target, for a caller that keeps its own records. A non-zero ESR after it
// is a delivery error (kDeliveryError); the ESR is left in `esr` either way.
template <LocalApic Apic, Clock Clk>
Status send_init_startup_startup(Apic& apic, Clk& clock, WakeTarget target, StartPage page,
                                 const WakeDelays& delays, uint32_t& esr) noexcept {
  Status sent;
  esr = detail::init_startup_startup(
      apic, clock, delays, [&] { return (sent = send_init(apic, target, delays)).ok(); },
      [&] { return (sent = apic.send(target.startup(page))).ok(); });
  if (!sent) return sent;
  return esr == 0 ? Status{} : Status{Error::kDeliveryError};
}

// Serial: wakes the AP of `record` and moves it to wake_sent (from offline or failed). The record
// states the outcome: wake_sent on success, failed with the error (and ESR bits) otherwise.
template <LocalApic Apic, Clock Clk>
Status wake_ap_init_sipi(Apic& apic, Clk& clock, CpuRecord& record, StartPage page,
                         const WakeDelays& delays) noexcept {
  if (record.is_firmware_bsp()) return Error::kInitToBsp;  // refused before any APIC access
  if (Status s = detail::begin_init_sipi_wake(apic, clock, record, apic.id()); !s) return s;
  uint32_t esr = 0;
  const Status sent =
      send_init_startup_startup(apic, clock, WakeTarget::one(record.apic()), page, delays, esr);
  if (!sent) fail_wake(record, sent.error(), esr);
  return sent;
}

// Parallel: every record `wakeable` accepts, in phases, so the delays are paid once for all
// APs, not once per AP: INIT to each, the INIT delay, STARTUP to each AP still waiting, the
// STARTUP delay, and again. STARTUP goes only to a record still wake_sent with its wake pending:
// an AP that already started (ap_main moved it to alive) gets no second one. An IPI that does
// not go out fails its record only.
// Returns the ESR after the sequence: the errors of all the APs' IPIs, which no single
// record can be blamed for.
template <uint32_t N, LocalApic Apic, Clock Clk, class Wakeable>
uint32_t wake_aps_phased(CpuTable<N>& table, Apic& apic, Clk& clock, StartPage page,
                         const WakeDelays& delays, Wakeable&& wakeable) noexcept {
  const ApicId controller = apic.id();
  auto send_init_phase = [&] {
    bool any = false;
    for (auto& r : table) {
      if (!wakeable(r) || !detail::begin_init_sipi_wake(apic, clock, r, controller)) continue;
      const Status sent = send_init(apic, WakeTarget::one(r.apic()), delays);
      if (!sent) fail_wake(r, sent.error());
      any = any || sent.ok();
    }
    return any;
  };
  auto send_startup_phase = [&] {
    for (auto& r : table) {
      if (r.load_state() != CpuState::kWakeSent || !r.wake_pending.load(MemoryOrder::kAcquire)) continue;
      const Status sent = apic.send(WakeTarget::one(r.apic()).startup(page));
      if (!sent) fail_wake(r, sent.error());
    }
    return true;
  };
  return detail::init_startup_startup(apic, clock, delays, send_init_phase, send_startup_phase);
}

// An all-excluding-self INIT resets every other CPU, so it is only harmless while no AP runs:
// every record but the caller's (record 0) is offline or failed, and none of them is the
// firmware BSP (INIT would send it back into the firmware).
template <uint32_t N>
bool no_ap_running(const CpuTable<N>& table) noexcept {
  for (const auto& r : table) {
    if (r.index == 0) continue;
    const CpuState s = r.load_state();
    if (r.is_firmware_bsp() || (s != CpuState::kOffline && s != CpuState::kFailed)) return false;
  }
  return true;
}

// Broadcast: one all-excluding-self sequence; every record `wakeable` accepts is moved to
// wake_sent first. It also reaches CPUs the table does not hold (disabled in the MADT, left out by
// max_cpus): whether that is acceptable is the caller's to decide (broadcast_is_safe). Refused
// while any AP runs (kBroadcastWhileRunning), sending nothing. If the sequence fails, every
// record still wake_sent fails with its error and the ESR bits, left in `esr` either way.
template <uint32_t N, LocalApic Apic, Clock Clk, class Wakeable>
Status wake_aps_broadcast(CpuTable<N>& table, Apic& apic, Clk& clock, StartPage page,
                          const WakeDelays& delays, Wakeable&& wakeable, uint32_t& esr) noexcept {
  if (!no_ap_running(table)) return Error::kBroadcastWhileRunning;
  const ApicId controller = apic.id();
  for (auto& r : table) {
    if (wakeable(r) && !r.is_firmware_bsp()) (void)begin_wake(r, clock, controller);
  }
  const Status sent =
      send_init_startup_startup(apic, clock, WakeTarget::all_excluding_self(), page, delays, esr);
  if (!sent) {
    for (auto& r : table) {
      if (r.load_state() == CpuState::kWakeSent) fail_wake(r, sent.error(), esr);
    }
  }
  return sent;
}

}  // namespace smpboot
