// CPU hotplug in the example kernel (hotplug.cpp): taking any online CPU offline and bringing
// it back, CPU0 included, with smpboot/boot/hotplug.hpp. An AP comes back by INIT/SIPI/SIPI
// through the trampoline, CPU0 (the firmware BSP, which INIT would send into the firmware) by
// an NMI whose handler enters the same ap_entry with CPU0's own record.
#pragma once

#include "smp.hpp"

namespace kernel {

// The offline request handler and the NMI handler; once, on the BSP, before any hotplug.
template <ApicMode M>
void install_hotplug_handlers();

// Controller: online -> going_down, interrupt the victim, wait until it parked itself.
template <ApicMode M>
Status take_offline(CpuRecord& victim, uint64_t timeout_us);

// Controller: wake an offline victim (NMI for CPU0, INIT/SIPI/SIPI otherwise) and wait until
// it is online.
template <ApicMode M>
Status bring_back_online(CpuRecord& victim, uint64_t timeout_us);

// NMI wakes so far that found CPU0 anywhere but in its park loop (a wake must only ever find
// it parked), and the address the last one interrupted.
uint32_t nmi_wakes_outside_park();
uint64_t nmi_wake_outside_park_rip();

}  // namespace kernel
