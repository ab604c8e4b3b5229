// The two record steps every wake method shares (INIT/SIPI/SIPI serial, phased and broadcast,
// and NMI): starting a wake, and recording a wake that could not be delivered. One place, so
// the methods cannot drift apart in what they leave in the boot record.
#pragma once

#include "../concepts/clock.hpp"
#include "../core/result.hpp"
#include "../percpu/cpu_record.hpp"

namespace smpboot {

// offline | failed -> kicked. wake_pending is set first with release, so a CPU that sees the
// wake (an NMI handler checking its own record, an AP reaching ap_main) sees it pending.
template <Clock Clk>
Status begin_wake(CpuRecord& record, Clk& clock) noexcept {
  const CpuState from = record.load_state();
  if (from != CpuState::kOffline && from != CpuState::kFailed) return Error::kIllegalTransition;
  record.wake_pending.store(1, MemoryOrder::kRelease);
  if (Status s = record.transition(from, CpuState::kKicked); !s) {
    record.wake_pending.store(0, MemoryOrder::kRelaxed);
    return s;
  }
  record.kick_us = clock.now_us();
  record.alive_us = record.online_us = 0;  // this wake's times, not the previous wake's
  record.error = uint32_t(Error::kNone);
  record.esr = 0;
  return {};
}

// The wake failed to go out: keep why (and the ESR bits), and kicked -> failed unless the CPU
// started anyway and moved first.
inline void fail_wake(CpuRecord& record, Error why, uint32_t esr = 0) noexcept {
  record.fail(why);
  record.esr = esr;
  (void)record.transition(CpuState::kKicked, CpuState::kFailed);
}

}  // namespace smpboot
