// The policy seam for a local APIC: what the bringup protocol calls. Implemented by XApic and
// X2Apic (apic/), chosen at compile time; a kernel that decides at run time instantiates both.
#pragma once

#include <stdint.h>

#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../hw/icr.hpp"
#include "../hw/msr.hpp"

namespace smpboot {

template <class T>
concept LocalApic = requires(T& apic, const T& capic, const IpiCommand& cmd, ApicId id,
                             uint8_t vector) {
  { T::kMode } -> SameAs<const ApicMode&>;
  // Sends one IPI. Waits (bounded) for a previous one to leave the ICR where the mode has a
  // delivery-status bit; kIcrBusyTimeout if it never does, kDestinationTooWide if `cmd` cannot
  // be addressed in this mode.
  { apic.send(cmd) } noexcept -> SameAs<Status>;
  // ESR after the write-then-read protocol (SDM 11.5.3): the errors since the last read.
  { apic.read_esr() } noexcept -> SameAs<uint32_t>;
  { apic.id() } noexcept -> SameAs<ApicId>;
  { apic.eoi() } noexcept -> SameAs<void>;
  // Software-enable the APIC with the given spurious-interrupt vector.
  { apic.software_enable(vector) } noexcept -> SameAs<void>;
  { capic.can_address(id) } noexcept -> SameAs<bool>;
};

}  // namespace smpboot
