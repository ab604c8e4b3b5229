// x2APIC: the local APIC through MSRs 0x800-0x8FF (Intel SDM Vol. 3A 11.12). The ICR is one
// 64-bit MSR (0x830) with a 32-bit destination; there is no delivery-status bit, so a send
// never waits (11.12.9). The ESR is MSR 0x828, written with 0 before it is read (11.12.1.2).
// An ICR write is preceded by MFENCE; LFENCE (11.12.3): WRMSR to x2APIC registers does not
// serialize, and emulators (TCG, Bochs) never show the difference.
#pragma once

#include <stdint.h>

#include "../concepts/io.hpp"
#include "../concepts/local_apic.hpp"
#include "../hw/apic_regs.hpp"
#include "../hw/icr.hpp"

namespace smpboot {

template <MsrPort Msr>
class X2Apic {
 public:
  static constexpr ApicMode kMode = ApicMode::kX2Apic;

  constexpr explicit X2Apic(Msr msr) noexcept : msr_(msr) {}

  Status send(const IpiCommand& cmd) noexcept {
    if (cmd.shorthand == Shorthand::kNone && !can_address(cmd.destination)) {
      return Error::kDestinationTooWide;
    }
    // The target may read what we stored just before (a record marked kicked, a token):
    // those stores must be visible before the IPI is (11.12.3).
    msr_.fence_before_apic_write();
    msr_.write(x2apic_msr::kIcr, icr::encode_x2apic(cmd));
    return {};
  }
  uint32_t read_esr() noexcept {
    msr_.write(x2apic_msr::kEsr, 0);
    return uint32_t(msr_.read(x2apic_msr::kEsr));
  }
  ApicId id() noexcept { return ApicId{uint32_t(msr_.read(x2apic_msr::kId))}; }
  void eoi() noexcept { msr_.write(x2apic_msr::kEoi, 0); }
  void software_enable(uint8_t spurious_vector) noexcept {
    msr_.write(x2apic_msr::kSvr, kSvrSoftwareEnable | spurious_vector);
  }
  // 0xFFFFFFFF is the x2APIC broadcast destination (11.12.9).
  bool can_address(ApicId id) const noexcept { return id.value != kBroadcastX2ApicId.value; }

  // Local APIC timer (SDM 11.5.4): periodic interrupts at `vector` every `initial_count`
  // bus clocks / 16. Used by waiting CPUs as a backstop wake-up while they sleep in hlt.
  void start_periodic_timer(uint8_t vector, uint32_t initial_count) noexcept {
    msr_.write(x2apic_msr::kTimerDivide, lvt_timer::kDivideBy16);
    msr_.write(x2apic_msr::kLvtTimer, lvt_timer::kPeriodic | vector);
    msr_.write(x2apic_msr::kTimerInitialCount, initial_count);
  }
  void start_one_shot_timer(uint8_t vector, uint32_t initial_count) noexcept {
    msr_.write(x2apic_msr::kTimerDivide, lvt_timer::kDivideBy16);
    msr_.write(x2apic_msr::kLvtTimer, vector);
    msr_.write(x2apic_msr::kTimerInitialCount, initial_count);
  }
  void stop_timer() noexcept {
    msr_.write(x2apic_msr::kLvtTimer, lvt_timer::kMasked);
    msr_.write(x2apic_msr::kTimerInitialCount, 0);
  }
  uint32_t timer_current_count() noexcept { return uint32_t(msr_.read(x2apic_msr::kTimerCurrentCount)); }

  Msr& msr() noexcept { return msr_; }

 private:
  Msr msr_;
};

}  // namespace smpboot
