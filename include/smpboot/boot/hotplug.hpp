// Taking CPUs offline and bringing them back, any CPU controlling any other, CPU0 included.
// Offline: the controller moves the victim online -> going_down and interrupts it; the victim,
// in its handler, disables interrupts, moves going_down -> offline and parks. Online: the
// controller picks the wake method from the victim's record (NMI for the firmware BSP,
// INIT/SIPI/SIPI for every other CPU) and waits; either way the victim enters through
// ap_entry with its own record. There is no per-method boot data anywhere.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../concepts/waiter.hpp"
#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../percpu/cpu_record.hpp"
#include "../wake/delays.hpp"
#include "../wake/init_sipi.hpp"
#include "../wake/nmi.hpp"
#include "wait.hpp"

namespace smpboot {

// Controller, step 1 of offline: claim the victim, recording the caller's own APIC ID as the
// victim's controller_apic_id (whom its offline handler tells), then the caller interrupts it.
// Only the winner of the claim writes it; the victim reads it in the handler of that interrupt,
// which the APIC policies send only after the caller's earlier stores are visible (the x2APIC
// policy fences before its WRMSR: Intel SDM Vol. 3A 11.12.3 "MSR Access in x2APIC Mode").
template <LocalApic Apic>
Status begin_offline(CpuRecord& victim, Apic& apic) noexcept {
  const ApicId controller = apic.id();
  if (Status s = victim.transition(CpuState::kOnline, CpuState::kGoingDown); !s) return s;
  victim.controller_apic_id = controller.value;
  return {};
}

// Victim, in its own context with interrupts disabled, as its last act before the parked loop
// (cli; hlt; the library's is smpboot_park_loop, boot/nmi_entry.hpp). Publishing `offline` lets
// any controller wake the CPU at once (INIT/SIPI, or an NMI for CPU0), so after this returns
// the CPU must do nothing but park: no IPI, no lock, no store the kernel relies on. Anything
// else (telling the waiting controller, self.controller_apic_id, dropping locks) comes before
// it; the controller waits for the state, not for a message.
inline Status complete_offline(CpuRecord& self) noexcept {
  return self.transition(CpuState::kGoingDown, CpuState::kOffline);
}

// Controller, step 2 of offline: wait until the victim parked; if it does not in time it is
// marked failed (kCpuNeverOffline).
template <Clock Clk, Waiter W>
Status wait_offline(CpuRecord& victim, Clk& clock, W& waiter, uint64_t timeout_us) noexcept {
  const bool settled = wait_until(clock, waiter, timeout_us, [&] {
    return victim.load_state() != CpuState::kGoingDown;
  });
  if (!settled && victim.transition(CpuState::kGoingDown, CpuState::kFailed)) {
    victim.fail(Error::kCpuNeverOffline);
  }
  return victim.load_state() == CpuState::kOffline ? Status{} : Status{Error::kCpuNeverOffline};
}

// Controller: bring one offline (or failed) CPU back and wait until it is online. The wake
// method follows from the record: NMI for the firmware BSP, INIT/SIPI/SIPI otherwise. Either
// records the caller's APIC ID as the victim's controller_apic_id, which its announce_online
// must notify (not CPU0: CPU0 may be the victim). A CPU
// whose offline never completed is refused (kCpuNeverOffline): it may still run kernel code.
template <LocalApic Apic, Clock Clk, Waiter W>
Status bring_online(CpuRecord& victim, Apic& apic, Clk& clock, W& waiter, StartPage page,
                    const WakeDelays& delays, uint64_t timeout_us) noexcept {
  const Status woken = victim.is_firmware_bsp() ? wake_cpu_nmi(apic, clock, victim)
                                                : wake_ap_init_sipi(apic, clock, victim, page, delays);
  if (!woken) return woken;
  wait_for_wake(victim, apic, clock, waiter, delays, timeout_us);
  if (victim.load_state() == CpuState::kOnline) return {};
  return victim.error == Error::kNone ? Error::kApNeverOnline : victim.error;
}

}  // namespace smpboot
