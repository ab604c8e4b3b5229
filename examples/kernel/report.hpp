// The example kernel's report on COM1 (report.cpp): the SMPBOOT BOOT line, one SMPBOOT CPU
// line per CPU and the SMPBOOT RESULT line, in the stable format of docs/example-kernel.md that scripts parse.
#pragma once

#include "cpu.hpp"

namespace kernel {

// Prints the BOOT line: the command line, the boot protocol, where the memory map came from
// and the SIPI page chosen from it (`sipi_page=0x9e000`, or `none` and a NOTE saying why).
void print_boot_line();

// Prints the CPU lines and the RESULT line; `extra_failures` (torture failures, a refused
// command line) make it status=fail. Returns whether the status was ok.
bool print_report(const BringupReport& report, const char* apic_name, uint32_t extra_failures = 0);

// Leaves the emulator with 0 for ok, 1 for fail (platform::exit_emulator).
[[noreturn]] void finish(bool ok);

}  // namespace kernel
