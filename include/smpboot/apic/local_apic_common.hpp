// What XApic and X2Apic do the same way: the registers whose protocol does not depend on the
// APIC mode (Intel SDM Vol. 3A 11.5.3 "Error Handling", 11.8.5 "Signaling Interrupt Servicing
// Completion", 11.9 "Spurious Interrupt", 11.5.4 "APIC Timer"), written once over a register
// access chosen at compile time: one MMIO access per register in xAPIC mode, one MSR access in
// x2APIC mode (11.12.1.2). Sending IPIs and reading the ID differ and stay in xapic.hpp and
// x2apic.hpp. There is no mode flag: each policy is its own type (STYLE principle 3).
#pragma once

#include <stdint.h>

#include "../core/types.hpp"
#include "../hw/apic_regs.hpp"

namespace smpboot {

// `Registers` reads and writes one local APIC register in one access of the architectural
// width (XApicRegisters, X2ApicRegisters); 32 bits, as every register used here holds.
template <class Registers>
  requires requires(Registers& registers, ApicRegister reg, uint32_t value) {
    { registers.read(reg) } noexcept -> SameAs<uint32_t>;
    { registers.write(reg, value) } noexcept -> SameAs<void>;
  }
class LocalApicCommon {
 public:
  // The ESR is updated only by a write: write (any value, 0), then read (11.5.3).
  uint32_t read_esr() noexcept {
    registers_.write(apic_reg::kEsr, 0);
    return registers_.read(apic_reg::kEsr);
  }
  void eoi() noexcept { registers_.write(apic_reg::kEoi, 0); }
  void software_enable(uint8_t spurious_vector) noexcept {
    registers_.write(apic_reg::kSvr,
                     uint32_t(svr::kSoftwareEnable.of(1) | svr::kVector.of(spurious_vector)));
  }

  // Local APIC timer: interrupts at `vector` after `initial_count` bus clocks / 16, once or
  // periodically. Used by waiting CPUs as a backstop wake-up while they sleep in hlt. Writing
  // the initial count starts the timer, so it goes last.
  void start_periodic_timer(uint8_t vector, uint32_t initial_count) noexcept {
    start_timer(lvt_timer::kModePeriodic, vector, initial_count);
  }
  void start_one_shot_timer(uint8_t vector, uint32_t initial_count) noexcept {
    start_timer(lvt_timer::kModeOneShot, vector, initial_count);
  }
  void stop_timer() noexcept {
    registers_.write(apic_reg::kLvtTimer, uint32_t(lvt_timer::kMask.of(1)));
    registers_.write(apic_reg::kTimerInitialCount, 0);
  }
  uint32_t timer_current_count() noexcept {
    return registers_.read(apic_reg::kTimerCurrentCount);
  }

 protected:
  constexpr explicit LocalApicCommon(Registers registers) noexcept : registers_(registers) {}

  Registers registers_;

 private:
  void start_timer(uint32_t mode, uint8_t vector, uint32_t initial_count) noexcept {
    registers_.write(apic_reg::kTimerDivide, lvt_timer::kDivideBy16);
    registers_.write(apic_reg::kLvtTimer,
                     uint32_t(lvt_timer::kMode.of(mode) | lvt_timer::kVector.of(vector)));
    registers_.write(apic_reg::kTimerInitialCount, initial_count);
  }
};

}  // namespace smpboot
