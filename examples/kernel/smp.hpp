// Bringing up every CPU the MADT lists (smp.cpp): the part of the example kernel an OS author
// copies. Test harnesses hook in through g_bringup_fault, never by editing the bringup.
#pragma once

#include "cpu.hpp"

namespace kernel {

// The SIPI page the trampoline was installed in; hotplug wakes APs through it again.
inline constinit StartPage g_start_page;

// Called after the table, the records and the trampoline setup are ready and before anything
// is installed or woken; fault injection (torture/inject.hpp) changes them here. Null normally.
using BringupFault = void (*)(CpuTable<kMaxCpus>& cpus, TrampolineSetup& setup);
inline constinit BringupFault g_bringup_fault = nullptr;

// On the BSP: fills g_cpus from the MADT (up to smp.maxcpus), installs the trampoline, wakes
// every AP in the configured mode and waits until each is online or timed out. Setup errors
// (no memory for a record, a refused trampoline) end the boot with a NOTE.
template <ApicMode M>
BringupReport bring_up_cpus(const Madt& madt);

}  // namespace kernel
