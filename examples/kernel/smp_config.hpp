// The example kernel's command-line parameters (docs/example-kernel.md lists them all):
//   smp.mode=serial|parallel|broadcast   smp.delays=spec|modern|auto   smp.maxcpus=N
//   smp.apic=auto|xapic|x2apic           smp.id=apic|cpuid             smp.timeout_ms=N
// Values are parsed whole (a view into the kept command line, so leading zeros are fine).
// Unknown values fall back to the default and are reported on the console; a command line
// longer than the kernel keeps is refused whole (status=fail).
#pragma once

#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/boot/bringup.hpp>
#include <smpboot/boot/trampoline_layout.hpp>
#include <smpboot/wake/delays.hpp>

#include "platform/platform.hpp"

struct SmpConfig {
  enum class Apic : uint8_t { kAuto, kXApic, kX2Apic };

  smpboot::BringupMode mode = smpboot::BringupMode::kParallel;
  // smp.wake=sipi (INIT/SIPI in `mode`) or mailbox: the APs are first parked in the kernel's
  // own stand-in for the firmware's ACPI wakeup mailbox loop (mailbox.cpp), then brought
  // online through MailboxWake only.
  enum class Wake : uint8_t { kSipi, kMailbox };
  Wake wake = Wake::kSipi;
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
  // smp.inject=firmware_x2apic: before anything else the BSP switches to x2APIC mode, as
  // firmware must on machines with APIC IDs above 254, to show the kernel taking over from it.
  bool inject_firmware_x2apic = false;
  // smp.inject=ap_hang:protected|long: the AP with the highest index stops right after
  // reaching that boot stage (the trampoline parks it), to show how the report says so.
  smpboot::BootStage inject_ap_hang = smpboot::BootStage::kNone;
  uint32_t watchdog_ms = 3000;  // torture: no progress for this long = a reported hang

  // Set when the command line was longer than the kernel keeps: no parameter is used and the
  // result is status=fail.
  bool cmdline_refused = false;

  using Value = platform::CmdlineValue;

  // Decimal, the whole value (leading zeros included); false if empty, not a number or above
  // 2^32 - 1.
  static bool parse_u32(Value s, uint32_t& out) {
    if (s.length == 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.length; ++i) {
      if (s.data[i] < '0' || s.data[i] > '9') return false;
      v = v * 10 + uint64_t(s.data[i] - '0');
      if (v > 0xFFFF'FFFFu) return false;
    }
    out = uint32_t(v);
    return true;
  }
  static void bad(const char* key, Value value) {
    constexpr size_t kShown = 48;  // longer than every valid value; the rest shows as "..."
    char shown[kShown + 1];
    size_t n = 0;
    for (; n < value.length && n < kShown; ++n) shown[n] = value.data[n];
    shown[n] = '\0';
    platform::kprintf("SMPBOOT NOTE ignoring %s=%s%s (see docs/example-kernel.md)\n", key, shown,
                      n < value.length ? "..." : "");
  }

  void parse() {
    if (!platform::cmdline_complete()) {
      cmdline_refused = true;
      platform::kprintf("SMPBOOT NOTE command line refused: %zu bytes, longer than the %zu the "
                        "kernel keeps; no parameter is used\n", platform::cmdline_given_bytes(),
                        platform::kCmdlineMaxBytes - 1);
      return;
    }
    Value v;
    if (platform::cmdline_get("smp.wake", v)) {
      if (v.equals("sipi")) wake = Wake::kSipi;
      else if (v.equals("mailbox")) wake = Wake::kMailbox;
      else bad("smp.wake", v);
    }
    if (platform::cmdline_get("smp.mode", v)) {
      if (v.equals("serial")) mode = smpboot::BringupMode::kSerial;
      else if (v.equals("parallel")) mode = smpboot::BringupMode::kParallel;
      else if (v.equals("broadcast")) mode = smpboot::BringupMode::kBroadcast;
      else bad("smp.mode", v);
    }
    if (platform::cmdline_get("smp.delays", v)) {
      if (v.equals("spec")) delays = smpboot::DelayPolicy::kSpec;
      else if (v.equals("modern")) delays = smpboot::DelayPolicy::kModern;
      else if (v.equals("auto")) delays = smpboot::DelayPolicy::kAuto;
      else bad("smp.delays", v);
    }
    if (platform::cmdline_get("smp.apic", v)) {
      if (v.equals("auto")) apic = Apic::kAuto;
      else if (v.equals("xapic")) apic = Apic::kXApic;
      else if (v.equals("x2apic")) apic = Apic::kX2Apic;
      else bad("smp.apic", v);
    }
    if (platform::cmdline_get("smp.id", v)) {
      if (v.equals("apic")) id_source = smpboot::TrampolineIdSource::kApicRegister;
      else if (v.equals("cpuid")) id_source = smpboot::TrampolineIdSource::kCpuidChain;
      else bad("smp.id", v);
    }
    uint32_t n;
    if (platform::cmdline_get("smp.maxcpus", v)) {
      if (parse_u32(v, n)) max_cpus = n; else bad("smp.maxcpus", v);
    }
    if (platform::cmdline_get("smp.torture", v)) {
      if (parse_u32(v, n)) torture = n; else bad("smp.torture", v);
    }
    if (platform::cmdline_get("smp.seed", v)) {
      if (parse_u32(v, n) && n != 0) seed = n; else bad("smp.seed", v);
    }
    if (platform::cmdline_get("smp.torture_cpu0", v)) {
      if (v.equals("1")) torture_cpu0 = true;
      else if (v.equals("0")) torture_cpu0 = false;
      else bad("smp.torture_cpu0", v);
    }
    if (platform::cmdline_get("smp.torture_victim", v)) {
      if (parse_u32(v, n)) torture_victim = n; else bad("smp.torture_victim", v);
    }
    if (platform::cmdline_get("smp.inject", v)) {
      if (v.equals("cpu0_stale_bootdata")) inject_cpu0_stale_bootdata = true;
      else if (v.equals("dead_ap")) inject_dead_ap = true;
      else if (v.equals("controller_hang")) inject_controller_hang = true;
      else if (v.equals("firmware_x2apic")) inject_firmware_x2apic = true;
      else if (v.equals("ap_hang:protected")) inject_ap_hang = smpboot::BootStage::kProtected;
      else if (v.equals("ap_hang:long")) inject_ap_hang = smpboot::BootStage::kLong;
      else bad("smp.inject", v);
    }
    if (platform::cmdline_get("smp.watchdog_ms", v)) {
      if (parse_u32(v, n) && n > 0) watchdog_ms = n; else bad("smp.watchdog_ms", v);
    }
    if (platform::cmdline_get("smp.timeout_ms", v)) {
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
