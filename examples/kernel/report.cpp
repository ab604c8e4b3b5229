// The SMPBOOT report. Field names and values are an interface (docs/example-kernel.md): add
// fields at the end of a line, never rename or drop one.
#include "report.hpp"

namespace kernel {
namespace {

// Microseconds since `t0` as text, or "-" for a time never reached (0).
const char* since(uint64_t t, uint64_t t0, char (&buf)[24]) {
  if (t == 0) return "-";
  uint64_t v = t >= t0 ? t - t0 : 0;
  char digits[24];
  int n = 0;
  do { digits[n++] = char('0' + v % 10); v /= 10; } while (v);
  for (int i = 0; i < n; ++i) buf[i] = digits[n - 1 - i];
  buf[n] = 0;
  return buf;
}

}  // namespace

void print_boot_line() {
  const uint64_t page = platform::sipi_page_phys();
  char page_text[24] = "none";
  if (page != 0) {
    static constexpr char kHex[] = "0123456789abcdef";
    char digits[20];
    int n = 0;
    uint64_t v = page;
    do { digits[n++] = kHex[v & 0xF]; v >>= 4; } while (v);
    page_text[0] = '0';
    page_text[1] = 'x';
    for (int i = 0; i < n; ++i) page_text[2 + i] = digits[n - 1 - i];
    page_text[2 + n] = 0;
  }
  platform::kprintf("SMPBOOT BOOT cmdline=\"%s\" protocol=%s memmap=%s sipi_page=%s\n",
                    platform::cmdline(), platform::boot_protocol_name(),
                    platform::memory_map_source(), page_text);
  if (page == 0) {
    platform::kprintf("SMPBOOT NOTE no SIPI page: %s (memory map: %s)\n",
                      error_name(platform::sipi_page_error()), platform::memory_map_source());
  }
}

bool print_report(const BringupReport& report, const char* apic_name, uint32_t extra_failures) {
  const uint64_t t0 = report.start_us;
  for (const auto& r : g_cpus) {
    char kick[24], alive[24], online[24];
    const bool bsp = r.index == 0;  // its times are 0: it was never woken
    platform::kprintf(
        "SMPBOOT CPU idx=%u apic=%u state=%s kick_us=%s alive_us=%s online_us=%s stage=%s\n",
        r.index, r.apic_id, cpu_state_name(r.load_state()), bsp ? "0" : since(r.wake_sent_us, t0, kick),
        bsp ? "0" : since(r.alive_us, t0, alive), bsp ? "0" : since(r.online_us, t0, online),
        boot_stage_name(r.load_stage()));
    if (r.load_state() == CpuState::kFailed) {
      platform::kprintf("SMPBOOT NOTE cpu=%u apic=%u error=%s esr=0x%x\n", r.index, r.apic_id,
                        error_name(r.error), r.esr);
    }
  }
  const bool ok = report.error == Error::kNone && report.failed == 0 &&
                  report.online == report.intended && extra_failures == 0;
  platform::kprintf(
      "SMPBOOT RESULT status=%s cpus=%u online=%u failed=%u mode=%s apic=%s id=%s delays=%s "
      "bringup_us=%lu esr=0x%x\n",
      ok ? "ok" : "fail", report.intended, report.online, report.failed,
      bringup_mode_name(g_config.mode), apic_name, g_config.id_source_name(),
      g_config.delays_name(), (unsigned long)(report.end_us - report.start_us), report.esr);
  return ok;
}

void finish(bool ok) { platform::exit_emulator(ok ? 0 : 1); }

}  // namespace kernel
