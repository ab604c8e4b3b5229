// The policy seam for passing time while one CPU waits for another: the BSP waiting for woken
// APs to come online (bring_up_aps, bring_online) and a controller waiting for a CPU to park
// (wait_offline). wait() is called in a loop between checks of another CPU's boot record, on
// the waiting CPU, in kernel context. Under emulation it must sleep (hlt until an interrupt),
// not spin: a spinning vCPU can starve the very vCPU it waits for.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"
#include "io.hpp"

namespace smpboot {

// When the wait that called wait() gives up. Both fields name the same instant: deadline_us on
// the time line of the Clock the wait was given (Clock::now_us), remaining_us the time from
// the moment wait() was called until then, which is what a one-shot timer is armed with.
struct WaitDeadline {
  // A wait with no end (a timeout too long to represent): deadline_us is kNever, remaining_us
  // the distance to it, and a waiter may sleep until any interrupt.
  static constexpr uint64_t kNever = ~uint64_t{0};

  uint64_t deadline_us = kNever;
  uint64_t remaining_us = kNever;  // never 0: wait() is only called before the deadline

  constexpr bool never() const noexcept { return deadline_us == kNever; }
};

// The contract: wait(deadline) sleeps until an interrupt (an IPI from the CPU waited for, or
// any other), and must return by deadline.deadline_us, so it needs a wake source of its own:
// arm a one-shot timer for deadline.remaining_us (clamped to what the timer can count), or
// run a periodic tick whose period is the most the wait may overrun. A bare `sti; hlt` with
// no timer would sleep forever once the CPU waited for is dead: a dead AP sends no IPI.
// Returning early is always safe: the caller re-checks the record and its own deadline after
// every wait(), and calls wait() again with the time that is left.
//
// The interrupt window. A wait checks another CPU's record, then sleeps. If interrupts were
// enabled during the check, the IPI that CPU sends right after it would be taken by its
// handler before the sleep begins, and the sleep would last until the timer: a wake-up lost
// for the rest of the wait. So wait_until (boot/wait.hpp) masks interrupts before its first
// check (mask_interrupts: CLI, returning whether IF was set) and restores the caller's state
// after its last (restore_interrupts: STI only if it was set); wait() is therefore always
// entered with interrupts off, and an IPI that lands between a check and the sleep stays
// pending until the STI of `sti; hlt`, whose shadow covers the HLT, and ends the sleep at
// once. The caller may enter bring_up_aps, wait_offline and bring_online with interrupts on
// or off. x86_64::NativeCpuHalt has both members for a kernel's own waiter to forward to.
template <class T>
concept Waiter = requires(T& w, const WaitDeadline& deadline, InterruptsSaved saved) {
  { w.wait(deadline) } noexcept -> SameAs<void>;
  { w.mask_interrupts() } noexcept -> SameAs<InterruptsSaved>;
  { w.restore_interrupts(saved) } noexcept -> SameAs<void>;
};

}  // namespace smpboot
