// The example kernel's report on COM1 (report.cpp): one SMPBOOT CPU line per CPU and the
// SMPBOOT RESULT line, in the stable format of docs/example-kernel.md that scripts parse.
#pragma once

#include "cpu.hpp"

namespace kernel {

// Prints the CPU lines and the RESULT line; `extra_failures` (torture failures, a refused
// command line) make it status=fail. Returns whether the status was ok.
bool print_report(const BringupReport& report, const char* apic_name, uint32_t extra_failures = 0);

// Leaves the emulator with 0 for ok, 1 for fail (platform::exit_emulator).
[[noreturn]] void finish(bool ok);

}  // namespace kernel
