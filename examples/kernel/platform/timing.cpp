// TSC frequency, measured once on the BSP against a timer of known rate: the ACPI PM timer
// (3.579545 MHz; ACPI 6.5 "Power Management Timer (PM_TMR)"; 24 or 32 bits wide per the FADT
// flag TMR_VAL_EXT) or else PIT channel 2 (1.193182 MHz, Intel 8254 data sheet, mode 0, its
// OUT pin readable as port 61h bit 5). Assumes an invariant TSC, true in QEMU and Bochs; on
// hardware check CPUID.80000007H:EDX[8] ("Invariant TSC", SDM Vol. 3B 18.17.1).
#include "internal.hpp"

namespace platform {
namespace {

constexpr uint64_t kPmTimerHz = 3'579'545;
constexpr uint64_t kPitHz = 1'193'182;
constexpr uint64_t kWindowMs = 50;
constexpr uint64_t kAssumedHz = 1'000'000'000;  // only if neither timer could be read
constexpr uint64_t kPollLimit = 200'000'000;    // a stuck timer must not hang the boot

constinit uint64_t g_tsc_hz = 0;
constinit const char* g_source = "none";

uint64_t calibrate_pm_timer(uint16_t port, bool wide) {
  const uint32_t mask = wide ? 0xFFFF'FFFFu : 0x00FF'FFFFu;
  const uint32_t target = uint32_t(kPmTimerHz * kWindowMs / 1000);
  // Start right after a tick so the window begins on an edge, not somewhere inside a tick.
  const uint32_t first = inl(port) & mask;
  uint32_t start = first;
  for (uint64_t i = 0; i < kPollLimit && start == first; ++i) start = inl(port) & mask;
  if (start == first) return 0;
  const uint64_t t0 = rdtsc();
  for (uint64_t i = 0; i < kPollLimit; ++i) {
    const uint32_t elapsed = ((inl(port) & mask) - start) & mask;
    if (elapsed >= target) return (rdtsc() - t0) * kPmTimerHz / elapsed;
  }
  return 0;
}

uint64_t calibrate_pit() {
  constexpr uint16_t kCount = uint16_t(kPitHz * kWindowMs / 1000);  // 59659 fits 16 bits
  const uint8_t port61 = inb(0x61) & ~uint8_t(0x03);  // gate 2 low, speaker data off
  outb(0x61, port61);
  outb(0x43, 0xB0);  // channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary
  outb(0x42, uint8_t(kCount));
  outb(0x42, uint8_t(kCount >> 8));
  outb(0x61, port61 | 0x01);  // gate high: counting starts; OUT2 rises at terminal count
  const uint64_t t0 = rdtsc();
  for (uint64_t i = 0; i < kPollLimit; ++i) {
    if (inb(0x61) & 0x20) {
      const uint64_t ticks = rdtsc() - t0;
      outb(0x61, port61);
      return ticks * kPitHz / kCount;
    }
  }
  outb(0x61, port61);
  return 0;
}

}  // namespace

void tsc_calibrate() {
  // `platform.clock=pit` on the command line skips the PM timer (to test the fallback).
  char forced[8];
  const bool force_pit = cmdline_get("platform.clock", forced, sizeof forced) &&
                         forced[0] == 'p' && forced[1] == 'i' && forced[2] == 't';
  uint64_t hz = 0;
  if (!force_pit && acpi_init() && acpi_info().pm_timer_port) {
    hz = calibrate_pm_timer(acpi_info().pm_timer_port, acpi_info().pm_timer_32bit);
    if (hz) g_source = "acpi-pm";
  }
  if (!hz) {
    hz = calibrate_pit();
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
