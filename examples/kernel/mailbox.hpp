// The firmware side of the ACPI multiprocessor wakeup mailbox (ACPI 6.4+ 5.2.12.19), played by
// the example kernel for smp.wake=mailbox: no emulator here implements it. The APs are started
// once with INIT/SIPI into a loop that follows the specification's mailbox protocol, then the
// kernel brings them online through MailboxWake only (smp.cpp). Test support, not a model.
#pragma once

#include "cpu.hpp"

namespace kernel {

// The kernel-owned mailbox page: identity-mapped in the kernel image, 4 KiB aligned.
AcpiWakeupMailbox& firmware_mailbox() noexcept;

// On the BSP, with the periodic APIC timer running (the waiter's tick): starts every AP of
// g_cpus (already filled) with INIT/SIPI through a second trampoline page into the mailbox
// loop, and waits until each is there. Returns how many are parked.
template <ApicMode M>
uint32_t park_aps_in_mailbox_loop(const TrampolineSetup& setup, const BringupOptions& options);

}  // namespace kernel
