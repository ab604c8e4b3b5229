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
#include "local_apic_common.hpp"

namespace smpboot {

// A register is one RDMSR or WRMSR of the MSR its xAPIC offset maps to (11.12.1.2); the
// registers reached this way hold 32 bits, the upper half of the MSR reads as 0.
template <MsrPort Msr>
struct X2ApicRegisters {
  Msr msr;
  uint32_t read(ApicRegister reg) noexcept { return uint32_t(msr.read(reg.x2apic_msr())); }
  void write(ApicRegister reg, uint32_t value) noexcept { msr.write(reg.x2apic_msr(), value); }
};

template <MsrPort Msr>
class X2Apic : public LocalApicCommon<X2ApicRegisters<Msr>> {
  using Common = LocalApicCommon<X2ApicRegisters<Msr>>;

 public:
  static constexpr ApicMode kMode = ApicMode::kX2Apic;

  constexpr explicit X2Apic(Msr msr) noexcept : Common(X2ApicRegisters<Msr>{msr}) {}

  Status send(const IpiCommand& cmd) noexcept {
    if (cmd.shorthand == Shorthand::kNone && !can_address(cmd.destination)) {
      return Error::kDestinationTooWide;
    }
    // The target may read what we stored just before (a record marked wake_sent, a token):
    // those stores must be visible before the IPI is (11.12.3).
    msr().fence_before_apic_write();
    msr().write(apic_reg::kIcrLow.x2apic_msr(), icr::encode_x2apic(cmd));
    return {};
  }
  ApicId id() noexcept { return ApicId{this->registers_.read(apic_reg::kId)}; }
  // 0xFFFFFFFF is the x2APIC broadcast destination (11.12.9).
  bool can_address(ApicId id) const noexcept { return id != kBroadcastX2ApicId; }

  Msr& msr() noexcept { return this->registers_.msr; }
};

}  // namespace smpboot
