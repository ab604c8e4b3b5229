// Fault injection for the boot and torture tests (smp.inject=..., docs/example-kernel.md).
// Each fault hooks into the kernel from here, through the hooks smp.hpp and cpu.hpp offer;
// nothing of it sits inside the bringup an OS author reads.
#pragma once

#include "../smp.hpp"

namespace kernel {

// The last AP woken by INIT/SIPI/SIPI: whose boot data CPU0 wakes with under
// cpu0_stale_bootdata, the fault of Linux's parallel-bringup patches v7 (CPU0's NMI wake
// entered on the stack, GS base and GDT of the last AP started).
inline constinit Atomic<CpuRecord*> g_last_woken_ap{nullptr};

// Installs what smp.inject asked for: dead_ap and ap_hang:<stage> into the bringup,
// cpu0_stale_bootdata into every wake. (controller_hang is the torture's own: torture.cpp.)
void install_fault_injection();

}  // namespace kernel
