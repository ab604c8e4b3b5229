// Waking an AP with INIT, STARTUP, STARTUP (Intel SDM Vol. 3A 9.4.4.1 "Typical BSP
// Initialization Sequence"; 11.6.1 on each delivery mode). The second STARTUP covers a first
// one that was lost; an AP that already started ignores it (9.4.3: a started AP is not in
// wait-for-SIPI state). Every wake path refuses to INIT the firmware BSP: INIT sends it back
// into the firmware (measured in QEMU and Bochs: the machine is lost), so it is woken by NMI.
#pragma once

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../core/result.hpp"
#include "../hw/icr.hpp"
#include "../percpu/cpu_record.hpp"
#include "delays.hpp"
#include "wake_record.hpp"

namespace smpboot {

// The raw sequence to one destination (or to all-excluding-self when `dest` is nullptr).
// The ESR is cleared first and read at the end (SDM 11.5.3); a non-zero ESR is a delivery
// error, reported with its bits in `esr_out`.
template <LocalApic Apic, Clock Clk>
Status send_init_startup_startup(Apic& apic, Clk& clock, const ApicId* dest, StartPage page,
                                 const WakeDelays& delays, uint32_t* esr_out = nullptr) noexcept {
  (void)apic.read_esr();
  const IpiCommand init = dest ? IpiCommand::init_assert(*dest)
                               : IpiCommand::init_assert_all_excluding_self();
  if (Status s = apic.send(init); !s) return s;
  if (delays.init_deassert) {
    IpiCommand deassert = IpiCommand::init_deassert(dest ? *dest : ApicId{0});
    if (!dest) deassert.shorthand = Shorthand::kAllExcludingSelf;
    if (Status s = apic.send(deassert); !s) return s;
  }
  if (delays.after_init_us) clock.delay_us(delays.after_init_us);
  const IpiCommand startup = dest ? IpiCommand::startup(*dest, page)
                                  : IpiCommand::startup_all_excluding_self(page);
  for (int i = 0; i < 2; ++i) {
    if (Status s = apic.send(startup); !s) return s;
    if (delays.after_sipi_us) clock.delay_us(delays.after_sipi_us);
  }
  const uint32_t esr = apic.read_esr();
  if (esr_out) *esr_out = esr;
  return esr == 0 ? Status{} : Status{Error::kDeliveryError};
}

// Wakes the AP of `record` and moves it to kicked (from offline or failed). The record
// states the outcome: kicked on success, failed with the error otherwise.
template <LocalApic Apic, Clock Clk>
Status wake_ap_init_sipi(Apic& apic, Clk& clock, CpuRecord& record, StartPage page,
                         const WakeDelays& delays) noexcept {
  if (record.is_firmware_bsp()) return Error::kInitToBsp;
  if (Status s = begin_wake(record, clock); !s) return s;
  if (!apic.can_address(record.apic())) {
    fail_wake(record, Error::kDestinationTooWide);
    return Error::kDestinationTooWide;
  }
  const ApicId dest = record.apic();
  uint32_t esr = 0;
  const Status sent = send_init_startup_startup(apic, clock, &dest, page, delays, &esr);
  if (!sent) fail_wake(record, sent.error(), esr);
  return sent;
}

}  // namespace smpboot
