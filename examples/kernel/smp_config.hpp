// The example kernel's command-line parameters (docs/example-kernel.md lists them all):
//   smp.mode=serial|parallel|broadcast   smp.delays=spec|modern|auto   smp.maxcpus=N
//   smp.apic=auto|xapic|x2apic           smp.id=apic|cpuid             smp.timeout_ms=N
// Unknown values fall back to the default and are reported on the console.
#pragma once

#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/boot/bringup.hpp>
#include <smpboot/boot/trampoline_layout.hpp>
#include <smpboot/wake/delays.hpp>

#include "platform/platform.hpp"

struct SmpConfig {
  enum class Apic : uint8_t { kAuto, kXApic, kX2Apic };

  smpboot::BringupMode mode = smpboot::BringupMode::kParallel;
  smpboot::DelayPolicy delays = smpboot::DelayPolicy::kAuto;
  Apic apic = Apic::kAuto;
  smpboot::TrampolineIdSource id_source = smpboot::TrampolineIdSource::kApicRegister;
  uint32_t max_cpus = 0xFFFF'FFFFu;
  uint64_t timeout_us = 2'000'000;
  // Hotplug torture (docs/example-kernel.md): cycles, RNG seed, whether CPU0 may be a victim,
  // an optional fixed victim, and the v7 fault injection.
  static constexpr uint32_t kAnyVictim = 0xFFFF'FFFFu;
  uint32_t torture = 0;
  uint64_t seed = 1;
  bool torture_cpu0 = false;
  uint32_t torture_victim = kAnyVictim;
  bool inject_cpu0_stale_bootdata = false;
  bool inject_dead_ap = false;  // the last AP's record has no entry: it parks in the trampoline
  bool inject_controller_hang = false;  // a torture controller stops (cli; hlt) mid-run
  uint32_t watchdog_ms = 3000;  // torture: no progress for this long = a reported hang

  static bool equals(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
  }
  static bool parse_u32(const char* s, uint32_t& out) {
    if (!*s) return false;
    uint64_t v = 0;
    for (; *s; ++s) {
      if (*s < '0' || *s > '9') return false;
      v = v * 10 + uint64_t(*s - '0');
      if (v > 0xFFFF'FFFFu) return false;
    }
    out = uint32_t(v);
    return true;
  }
  static void bad(const char* key, const char* value) {
    platform::kprintf("SMPBOOT NOTE ignoring %s=%s (see docs/example-kernel.md)\n", key, value);
  }

  void parse() {
    char v[32];
    if (platform::cmdline_get("smp.mode", v, sizeof v)) {
      if (equals(v, "serial")) mode = smpboot::BringupMode::kSerial;
      else if (equals(v, "parallel")) mode = smpboot::BringupMode::kParallel;
      else if (equals(v, "broadcast")) mode = smpboot::BringupMode::kBroadcast;
      else bad("smp.mode", v);
    }
    if (platform::cmdline_get("smp.delays", v, sizeof v)) {
      if (equals(v, "spec")) delays = smpboot::DelayPolicy::kSpec;
      else if (equals(v, "modern")) delays = smpboot::DelayPolicy::kModern;
      else if (equals(v, "auto")) delays = smpboot::DelayPolicy::kAuto;
      else bad("smp.delays", v);
    }
    if (platform::cmdline_get("smp.apic", v, sizeof v)) {
      if (equals(v, "auto")) apic = Apic::kAuto;
      else if (equals(v, "xapic")) apic = Apic::kXApic;
      else if (equals(v, "x2apic")) apic = Apic::kX2Apic;
      else bad("smp.apic", v);
    }
    if (platform::cmdline_get("smp.id", v, sizeof v)) {
      if (equals(v, "apic")) id_source = smpboot::TrampolineIdSource::kApicRegister;
      else if (equals(v, "cpuid")) id_source = smpboot::TrampolineIdSource::kCpuidChain;
      else bad("smp.id", v);
    }
    uint32_t n;
    if (platform::cmdline_get("smp.maxcpus", v, sizeof v)) {
      if (parse_u32(v, n)) max_cpus = n; else bad("smp.maxcpus", v);
    }
    if (platform::cmdline_get("smp.torture", v, sizeof v)) {
      if (parse_u32(v, n)) torture = n; else bad("smp.torture", v);
    }
    if (platform::cmdline_get("smp.seed", v, sizeof v)) {
      if (parse_u32(v, n) && n != 0) seed = n; else bad("smp.seed", v);
    }
    if (platform::cmdline_get("smp.torture_cpu0", v, sizeof v)) {
      if (equals(v, "1")) torture_cpu0 = true;
      else if (equals(v, "0")) torture_cpu0 = false;
      else bad("smp.torture_cpu0", v);
    }
    if (platform::cmdline_get("smp.torture_victim", v, sizeof v)) {
      if (parse_u32(v, n)) torture_victim = n; else bad("smp.torture_victim", v);
    }
    if (platform::cmdline_get("smp.inject", v, sizeof v)) {
      if (equals(v, "cpu0_stale_bootdata")) inject_cpu0_stale_bootdata = true;
      else if (equals(v, "dead_ap")) inject_dead_ap = true;
      else if (equals(v, "controller_hang")) inject_controller_hang = true;
      else bad("smp.inject", v);
    }
    if (platform::cmdline_get("smp.watchdog_ms", v, sizeof v)) {
      if (parse_u32(v, n) && n > 0) watchdog_ms = n; else bad("smp.watchdog_ms", v);
    }
    if (platform::cmdline_get("smp.timeout_ms", v, sizeof v)) {
      if (parse_u32(v, n) && n > 0) timeout_us = uint64_t(n) * 1000; else bad("smp.timeout_ms", v);
    }
  }

  smpboot::WakeDelays resolve_delays() const {
    if (delays == smpboot::DelayPolicy::kSpec) return smpboot::kSpecDelays;
    if (delays == smpboot::DelayPolicy::kModern) return smpboot::kModernDelays;
    smpboot::x86_64::NativeCpuid cpuid;
    return smpboot::auto_delays(cpuid);
  }
  const char* delays_name() const {
    return delays == smpboot::DelayPolicy::kSpec ? "spec"
           : delays == smpboot::DelayPolicy::kModern ? "modern" : "auto";
  }
  const char* id_source_name() const {
    return id_source == smpboot::TrampolineIdSource::kCpuidChain ? "cpuid" : "apic";
  }
};
