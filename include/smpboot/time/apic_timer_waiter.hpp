// A Waiter (concepts/waiter.hpp) that keeps its deadline on its own: each wait() arms a
// one-shot local APIC timer for the time left and sleeps until an interrupt, the timer's or
// any other (SDM Vol. 3A 11.5.4 "APIC Timer": one-shot mode, divide by 16). It needs the
// timer's rate (measure_apic_timer_hz) and an IDT entry for `vector` that sends an EOI; it
// does not install one.
#pragma once

#include <stdint.h>

#include "../concepts/io.hpp"
#include "../concepts/waiter.hpp"
#include "calibration.hpp"

namespace smpboot {

template <ApicTimer Timer, CpuHalt Halt>
class ApicTimerWaiter {
 public:
  // `timer` is the waiting CPU's own local APIC and must outlive the waiter; `timer_hz` is
  // what measure_apic_timer_hz returned on this machine.
  constexpr ApicTimerWaiter(Timer& timer, Halt halt, uint64_t timer_hz, uint8_t vector) noexcept
      : timer_(&timer), halt_(halt), timer_hz_(timer_hz), vector_(vector) {}

  // Called with interrupts disabled (as wait_until is in a kernel): the timer is armed first,
  // so its interrupt, even if it comes before the HLT, wakes it (CpuHalt). The timer is
  // stopped afterwards, so a wait that an IPI ended leaves no interrupt for the next one.
  void wait(const WaitDeadline& deadline) noexcept {
    timer_->start_one_shot_timer(vector_, count_for_us(deadline.remaining_us));
    halt_.halt_until_interrupt();
    timer_->stop_timer();
  }

  // The initial count for `us`: rounded down, so the interrupt comes by the deadline and not
  // after it; at least 1 (a count of 0 stops the timer); at most 0xFFFFFFFF, so a long or
  // never-ending wait returns early and is called again (which the Waiter contract allows).
  constexpr uint32_t count_for_us(uint64_t us) const noexcept {
    const uint64_t count = mul_div_floor(us, timer_hz_, 1'000'000);
    if (count == 0) return 1;
    return count > 0xFFFF'FFFFu ? 0xFFFF'FFFFu : uint32_t(count);
  }
  InterruptsSaved mask_interrupts() noexcept { return halt_.mask_interrupts(); }
  void restore_interrupts(InterruptsSaved saved) noexcept { halt_.restore_interrupts(saved); }
  constexpr uint64_t timer_hz() const noexcept { return timer_hz_; }
  constexpr uint8_t vector() const noexcept { return vector_; }

 private:
  Timer* timer_;
  Halt halt_;
  uint64_t timer_hz_;
  uint8_t vector_;
};

}  // namespace smpboot
