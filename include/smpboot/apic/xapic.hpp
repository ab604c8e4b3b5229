// xAPIC: the local APIC through its 4 KiB MMIO page (Intel SDM Vol. 3A 11.4-11.6). The ICR is
// two 32-bit registers; writing ICR_LOW sends the IPI, so ICR_HIGH (destination) goes first
// (11.6.1). The delivery-status bit says a previous IPI is still pending; we wait for it
// boundedly before and after a send and report kIcrBusyTimeout rather than hang.
#pragma once

#include <stdint.h>

#include "../concepts/io.hpp"
#include "../concepts/local_apic.hpp"
#include "../hw/apic_regs.hpp"
#include "../hw/icr.hpp"

namespace smpboot {

// How long to wait for ICR delivery status in register polls. Linux waits ~100 µs for the
// same bit; one MMIO poll costs at least ~0.1 µs on hardware and far more under emulation,
// so the default gives well over 1 ms before a send is declared stuck.
inline constexpr uint32_t kDefaultIcrPolls = 100'000;

template <MmioWindow Mmio>
class XApic {
 public:
  static constexpr ApicMode kMode = ApicMode::kXApic;

  constexpr explicit XApic(Mmio mmio, uint32_t icr_poll_limit = kDefaultIcrPolls) noexcept
      : mmio_(mmio), icr_poll_limit_(icr_poll_limit) {}

  Status send(const IpiCommand& cmd) noexcept {
    if (cmd.shorthand == Shorthand::kNone && !can_address(cmd.destination)) {
      return Error::kDestinationTooWide;
    }
    if (!wait_icr_idle()) return Error::kIcrBusyTimeout;
    const icr::XApicIcr value = icr::encode_xapic(cmd);
    mmio_.write32(xapic_reg::kIcrHigh, value.high);
    mmio_.write32(xapic_reg::kIcrLow, value.low);
    if (!wait_icr_idle()) return Error::kIcrBusyTimeout;
    return {};
  }

  // SDM 11.5.3: the ESR is updated only by a write; write (any value, 0) then read.
  uint32_t read_esr() noexcept {
    mmio_.write32(xapic_reg::kEsr, 0);
    return mmio_.read32(xapic_reg::kEsr);
  }

  ApicId id() noexcept { return ApicId{mmio_.read32(xapic_reg::kId) >> 24}; }
  void eoi() noexcept { mmio_.write32(xapic_reg::kEoi, 0); }
  void software_enable(uint8_t spurious_vector) noexcept {
    mmio_.write32(xapic_reg::kSvr, kSvrSoftwareEnable | spurious_vector);
  }
  // 8-bit physical destinations; 0xFF is the broadcast address, not a CPU.
  bool can_address(ApicId id) const noexcept { return id.value < 0xFF; }

  // Local APIC timer (SDM 11.5.4): periodic interrupts at `vector` every `initial_count`
  // bus clocks / 16. Used by waiting CPUs as a backstop wake-up while they sleep in hlt.
  void start_periodic_timer(uint8_t vector, uint32_t initial_count) noexcept {
    mmio_.write32(xapic_reg::kTimerDivide, lvt_timer::kDivideBy16);
    mmio_.write32(xapic_reg::kLvtTimer, lvt_timer::kPeriodic | vector);
    mmio_.write32(xapic_reg::kTimerInitialCount, initial_count);
  }
  void start_one_shot_timer(uint8_t vector, uint32_t initial_count) noexcept {
    mmio_.write32(xapic_reg::kTimerDivide, lvt_timer::kDivideBy16);
    mmio_.write32(xapic_reg::kLvtTimer, vector);
    mmio_.write32(xapic_reg::kTimerInitialCount, initial_count);
  }
  void stop_timer() noexcept {
    mmio_.write32(xapic_reg::kLvtTimer, lvt_timer::kMasked);
    mmio_.write32(xapic_reg::kTimerInitialCount, 0);
  }
  uint32_t timer_current_count() noexcept { return mmio_.read32(xapic_reg::kTimerCurrentCount); }

  Mmio& mmio() noexcept { return mmio_; }

 private:
  bool wait_icr_idle() noexcept {
    for (uint32_t poll = 0; poll < icr_poll_limit_; ++poll) {
      if ((mmio_.read32(xapic_reg::kIcrLow) & icr::kDeliveryStatusBit) == 0) return true;
    }
    return false;
  }

  Mmio mmio_;
  uint32_t icr_poll_limit_;
};

}  // namespace smpboot
