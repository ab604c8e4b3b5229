// TSC frequency, measured once on the BSP by the library's calibration (smpboot/time/
// calibration.hpp) against a timer of known rate: the ACPI PM timer when the FADT names one
// (3.579545 MHz, 24 or 32 bits per its flag TMR_VAL_EXT) or else PIT counter 2 (1.193182 MHz,
// mode 0, OUT2 read at port 61h), over 50 ms, bounded so a dead timer cannot hang the boot.
// Assumes an invariant TSC, true in QEMU and Bochs; on hardware check CPUID.80000007H:EDX[8]
// ("Invariant TSC", SDM Vol. 3B 18.17.1).
#include "internal.hpp"

// The library is header-only and its headers include each other by relative paths, so the
// platform layer still builds without -Iinclude (build-standalone.sh).
#include "../../../include/smpboot/arch/x86_64/native.hpp"
#include "../../../include/smpboot/time/calibration.hpp"

namespace platform {
namespace {

constexpr uint64_t kAssumedHz = 1'000'000'000;  // only if neither timer could be read

constinit uint64_t g_tsc_hz = 0;
constinit const char* g_source = "none";

}  // namespace

void tsc_calibrate() {
  // `platform.clock=pit` on the command line skips the PM timer (to test the fallback).
  char forced[8];
  const bool force_pit = cmdline_get("platform.clock", forced, sizeof forced) &&
                         forced[0] == 'p' && forced[1] == 'i' && forced[2] == 't';
  smpboot::x86_64::NativePortIo io;
  smpboot::x86_64::NativeCpu cpu;
  uint64_t hz = 0;
  if (!force_pit && acpi_init() && acpi_info().pm_timer_port) {
    hz = smpboot::calibrate_tsc_with_pm_timer(io, cpu, acpi_info().pm_timer_port,
                                              acpi_info().pm_timer_32bit)
             .value_or(0);
    if (hz) g_source = "acpi-pm";
  }
  if (!hz) {
    hz = smpboot::calibrate_tsc_with_pit(io, cpu).value_or(0);
    if (hz) g_source = "pit";
  }
  if (!hz) {
    hz = kAssumedHz;
    g_source = "none";
  }
  __atomic_store_n(&g_tsc_hz, hz, __ATOMIC_RELEASE);
}

uint64_t tsc_hz() {
  uint64_t hz = __atomic_load_n(&g_tsc_hz, __ATOMIC_ACQUIRE);
  if (hz == 0) {
    tsc_calibrate();
    hz = __atomic_load_n(&g_tsc_hz, __ATOMIC_ACQUIRE);
  }
  return hz;
}

const char* tsc_calibration_source() { return g_source; }

// Split so that neither product overflows 64 bits for any TSC rate below ~18 THz.
uint64_t tsc_to_us(uint64_t ticks) {
  const uint64_t hz = tsc_hz();
  return ticks / hz * 1'000'000 + ticks % hz * 1'000'000 / hz;
}

void delay_us(uint64_t us) {
  const uint64_t hz = tsc_hz();
  const uint64_t ticks = us / 1'000'000 * hz + us % 1'000'000 * hz / 1'000'000;
  const uint64_t start = rdtsc();
  while (rdtsc() - start < ticks) cpu_pause();
}

}  // namespace platform
