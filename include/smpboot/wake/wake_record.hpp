// The two record steps every wake method shares (INIT/SIPI/SIPI serial, phased and broadcast,
// and NMI): starting a wake, and recording a wake that could not be delivered. One place, so
// the methods cannot drift apart in what they leave in the boot record.
#pragma once

#include "../concepts/clock.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../percpu/cpu_record.hpp"

namespace smpboot {

// offline | failed -> wake_sent, started by the CPU whose APIC ID is `controller` (the caller's
// own: the woken CPU's announce_online tells it). The state moves first and only the winner of that CAS marks the
// wake pending (release), so a controller that loses a race for the same CPU leaves the
// winner's wake alone. Whoever sees wake_pending set (acquire) also sees the record wake_sent:
// an NMI handler checking its own record, a phased wake deciding on a second STARTUP.
// A CPU whose offline never completed (failed with kCpuNeverOffline) may still be running
// kernel code: waking it (an NMI would hijack a live CPU0) is refused.
template <Clock Clk>
Status begin_wake(CpuRecord& record, Clk& clock, ApicId controller) noexcept {
  const CpuState from = record.load_state();
  if (from != CpuState::kOffline && from != CpuState::kFailed) return Error::kIllegalTransition;
  if (from == CpuState::kFailed && record.error == Error::kCpuNeverOffline) {
    return Error::kCpuNeverOffline;
  }
  if (Status s = record.transition(from, CpuState::kWakeSent); !s) return s;
  record.wake_sent_us = clock.now_us();
  record.alive_us = record.online_us = 0;  // this wake's times, not the previous wake's
  record.error = Error::kNone;
  record.esr = 0;
  record.controller_apic_id = controller.value;
  record.stage.store(uint32_t(BootStage::kNone), MemoryOrder::kRelaxed);
  record.wake_pending.store(1, MemoryOrder::kRelease);
  return {};
}

// The wake failed to go out: keep why (and the ESR bits), and wake_sent -> failed unless the CPU
// started anyway and moved first.
inline void fail_wake(CpuRecord& record, Error why, uint32_t esr = 0) noexcept {
  record.fail(why);
  record.esr = esr;
  (void)record.transition(CpuState::kWakeSent, CpuState::kFailed);
}

}  // namespace smpboot
