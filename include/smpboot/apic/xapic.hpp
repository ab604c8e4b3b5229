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
#include "local_apic_common.hpp"

namespace smpboot {

// How long to wait for ICR delivery status in register polls. Linux waits ~100 µs for the
// same bit; one MMIO poll costs at least ~0.1 µs on hardware and far more under emulation,
// so the default gives well over 1 ms before a send is declared stuck.
inline constexpr uint32_t kDefaultIcrPolls = 100'000;

// A register is one aligned 32-bit access at its offset in the page (11.4.1).
template <MmioWindow Mmio>
struct XApicRegisters {
  Mmio mmio;
  uint32_t read(ApicRegister reg) noexcept { return mmio.read32(reg.xapic_offset); }
  void write(ApicRegister reg, uint32_t value) noexcept { mmio.write32(reg.xapic_offset, value); }
};

template <MmioWindow Mmio>
class XApic : public LocalApicCommon<XApicRegisters<Mmio>> {
  using Common = LocalApicCommon<XApicRegisters<Mmio>>;

 public:
  static constexpr ApicMode kMode = ApicMode::kXApic;

  constexpr explicit XApic(Mmio mmio, uint32_t icr_poll_limit = kDefaultIcrPolls) noexcept
      : Common(XApicRegisters<Mmio>{mmio}), icr_poll_limit_(icr_poll_limit) {}

  Status send(const IpiCommand& cmd) noexcept {
    if (cmd.shorthand == Shorthand::kNone && !can_address(cmd.destination)) {
      return Error::kDestinationTooWide;
    }
    if (!wait_icr_idle()) return Error::kIcrBusyTimeout;
    const icr::XApicIcr value = icr::encode_xapic(cmd);
    this->registers_.write(apic_reg::kIcrHigh, value.high);
    this->registers_.write(apic_reg::kIcrLow, value.low);
    if (!wait_icr_idle()) return Error::kIcrBusyTimeout;
    return {};
  }

  ApicId id() noexcept { return ApicId{kXApicIdField(this->registers_.read(apic_reg::kId))}; }
  // 8-bit physical destinations; 0xFF is the broadcast address, not a CPU.
  bool can_address(ApicId id) const noexcept { return id.value < kBroadcastXApicId.value; }

  Mmio& mmio() noexcept { return this->registers_.mmio; }

 private:
  bool wait_icr_idle() noexcept {
    for (uint32_t poll = 0; poll < icr_poll_limit_; ++poll) {
      if (!icr::kDeliveryStatus(this->registers_.read(apic_reg::kIcrLow))) return true;
    }
    return false;
  }

  uint32_t icr_poll_limit_;
};

}  // namespace smpboot
