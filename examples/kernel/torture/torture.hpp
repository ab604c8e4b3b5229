// The hotplug torture (smp.torture=<cycles>, torture.cpp): random offline/online cycles of
// random victims, each driven by a random online controller, CPU0 included as a victim with
// smp.torture_cpu0=1, with a watchdog CPU that turns a hang into a reported failure.
#pragma once

#include "../hotplug.hpp"
#include "../report.hpp"
#include "inject.hpp"

namespace kernel {

// After the bringup, on the BSP: runs the torture on every online CPU, prints the TORTURE
// line and the report, and leaves the emulator.
template <ApicMode M>
[[noreturn]] void run_torture(const BringupReport& bringup);

}  // namespace kernel
