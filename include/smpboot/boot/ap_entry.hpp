// The one C++ entry every wake path uses, on the woken CPU, already on its own stack (the
// trampoline switched to record->stack_top; the NMI path for CPU0 does the same from CPU0's
// record). It claims the wake (wake_sent -> alive) before running any kernel hook, installs the
// CPU state the record names, then moves alive -> online. A CPU whose record was already
// marked failed (it came too late) parks instead: the BSP gave up on it and its report says so.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"
#include "../percpu/cpu_record.hpp"

namespace smpboot {

// What a kernel provides to the AP entry. All static: the entry runs before any per-CPU
// object exists except the record.
template <class P>
concept ApPlatform = requires(CpuRecord& r) {
  // Load the record's GDT (and segments), GS base and IDT on this CPU.
  { P::install_cpu_state(r) } noexcept -> SameAs<void>;
  { P::now_us() } noexcept -> SameAs<uint64_t>;
  // The kernel's per-CPU setup (APIC mode and enable, timers, ...); false = this CPU failed.
  { P::cpu_setup(r) } noexcept -> SameAs<bool>;
  // Tell whoever waits (e.g. an IPI to the controller).
  { P::announce_online(r) } noexcept -> SameAs<void>;
  // The CPU's life while online. A kernel's usually never returns (it parks from inside when
  // it goes offline); returning means "this CPU went offline" and ends ap_main.
  { P::run(r) } noexcept -> SameAs<void>;
  // Stop this CPU for good (cli; hlt loop) without touching shared state. Never returns.
  { P::park(r) } noexcept -> SameAs<void>;
};

enum class ApExit : uint8_t {
  kLate,         // the record was no longer "wake_sent": the controller gave up on this CPU
  kSetupFailed,  // cpu_setup said no; the record is failed
  kNotOnline,    // someone moved the record between alive and online
  kWentOffline,  // run() returned
};

// The state walk of one wake, on the woken CPU, already on the record's stack. Returns why
// the CPU stopped running kernel code; the caller parks it (ap_entry) or, in a simulator,
// goes back to waiting for the next wake.
template <ApPlatform P>
ApExit ap_main(CpuRecord* self) noexcept {
  // Too late? Decided before any kernel hook runs: a CPU the controller gave up on parks
  // without touching the kernel's state (the controller also INITs it: boot/wait.hpp).
  const uint64_t alive_us = P::now_us();
  if (!self->transition(CpuState::kWakeSent, CpuState::kAlive)) return ApExit::kLate;
  self->alive_us = alive_us;
  self->reach(BootStage::kAlive);
  P::install_cpu_state(*self);
  if (!P::cpu_setup(*self)) {
    (void)self->transition(CpuState::kAlive, CpuState::kFailed);
    P::announce_online(*self);  // wake the controller: it sees `failed` at once
    return ApExit::kSetupFailed;
  }
  self->online_us = P::now_us();
  ++self->wake_count;
  self->reach(BootStage::kOnline);
  self->wake_pending.store(0, MemoryOrder::kRelease);
  if (!self->transition(CpuState::kAlive, CpuState::kOnline)) return ApExit::kNotOnline;
  P::announce_online(*self);
  P::run(*self);
  return ApExit::kWentOffline;
}

// The entry every wake path calls: record->entry(record) on record->stack_top.
template <ApPlatform P>
[[noreturn]] void ap_entry(CpuRecord* self) noexcept {
  (void)ap_main<P>(self);
  P::park(*self);
  __builtin_unreachable();
}

}  // namespace smpboot
