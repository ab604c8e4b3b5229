// Shared state of the example kernel and its side of smpboot's AP entry: the CPU table, the
// per-CPU block GS points to, the interrupt vectors, and KernelApPlatform<mode>, which is what
// smpboot::ap_entry calls on every CPU that wakes (AP by INIT/SIPI, CPU0 by NMI).
#pragma once

#include <smpboot/arch/x86_64/descriptors.hpp>
#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/smpboot.hpp>

#include "platform/platform.hpp"
#include "smp_config.hpp"

namespace kernel {

using namespace smpboot;
using x86_64::NativeCpu;
using x86_64::NativeCpuid;
using x86_64::NativeMmio;
using x86_64::NativeMsr;

inline constexpr uint32_t kMaxCpus = 1024;
inline constexpr uint8_t kWakeVector = 0xF0;     // "something changed, look again": EOI only
inline constexpr uint8_t kTimerVector = 0xF1;    // backstop tick while a CPU sleeps in a wait
inline constexpr uint8_t kOfflineVector = 0xF2;  // "go offline if your record says so"
inline constexpr uint8_t kPingVector = 0xF3;     // "check yourself and answer"
inline constexpr uint8_t kSpuriousVector = 0xFF;
inline constexpr uint64_t kStackBytes = 16 * 1024;
inline constexpr uint64_t kTrampolinePhys = 0x8000;  // SIPI vector 0x08, free below 1 MiB
inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;

// Per-CPU data that GS points to. The GDT is per CPU so that a CPU's descriptor tables are
// provably its own (the hotplug torture checks it).
struct alignas(64) PerCpu {
  PerCpu* self;
  CpuRecord* record;
  uint64_t gdt[3];
  Atomic<uint32_t> pings;           // ping IPIs answered
  Atomic<uint32_t> check_failures;  // self-checks that failed (wrong GS, stack, GDT, IDT)
};

inline constinit CpuTable<kMaxCpus> g_cpus;
inline constinit SmpConfig g_config;
inline constinit ApicMode g_apic_mode = ApicMode::kXApic;
inline constinit uint64_t g_lapic_base = 0xFEE0'0000;
inline constinit Atomic<uint32_t> g_controller_apic{0};  // who waits: gets "online" IPIs
// How many CPUs the waiting controller still waits for. Only the CPU that takes it to zero
// (or below) wakes the controller: one IPI per wait instead of one per AP, so 255 APs
// coming online do not wake the BSP 255 times.
inline constinit Atomic<int32_t> g_online_awaited{1};
inline constinit uint32_t g_timer_counts_per_ms = 0;
inline constinit StartPage g_start_page;

// Fault injection smp.inject=cpu0_stale_bootdata: the Linux parallel-bringup v7 bug, where
// CPU0's NMI wake entered with the boot data of the last AP woken.
inline constinit bool g_inject_stale_bootdata = false;
inline constinit Atomic<CpuRecord*> g_last_woken_ap{nullptr};

// The record whose stack, GS base and GDT a waking CPU uses: always its own, except under the
// fault injection, where CPU0 takes the last woken AP's (what Linux v7 did).
inline const CpuRecord& boot_data_for(const CpuRecord& r) noexcept {
  if (g_inject_stale_bootdata && r.is_firmware_bsp()) {
    if (const CpuRecord* stale = g_last_woken_ap.load(MemoryOrder::kAcquire)) return *stale;
  }
  return r;
}

// The kernel's smpboot Clock: the TSC at the frequency calibrated at boot (same on every CPU).
inline TscClock<NativeCpu> tsc_clock() noexcept {
  return TscClock<NativeCpu>(NativeCpu{}, platform::tsc_hz());
}

// Waiting CPUs sleep: sti; hlt, woken by an IPI or their APIC-timer tick (never spin: under
// TCG a spinning vCPU starves the others).
struct HaltWaiter {
  void wait() noexcept { asm volatile("sti; hlt; cli" ::: "memory"); }
};

template <ApicMode M>
auto make_apic() noexcept {
  if constexpr (M == ApicMode::kX2Apic) {
    return X2Apic<NativeMsr>(NativeMsr{});
  } else {
    return XApic<NativeMmio>(NativeMmio(uintptr_t(g_lapic_base)));
  }
}

// Runs fn(apic) with the policy of the APIC mode chosen at boot: the one run-time branch
// between the two compile-time policies.
template <class Fn>
decltype(auto) with_apic(Fn&& fn) noexcept {
  if (g_apic_mode == ApicMode::kX2Apic) {
    auto apic = make_apic<ApicMode::kX2Apic>();
    return fn(apic);
  }
  auto apic = make_apic<ApicMode::kXApic>();
  return fn(apic);
}

inline ApicId current_apic_id() noexcept {
  return with_apic([](auto& apic) { return apic.id(); });
}

inline void lapic_eoi() noexcept {
  with_apic([](auto& apic) { apic.eoi(); });
}

inline PerCpu& percpu_of(CpuRecord& r) noexcept { return *reinterpret_cast<PerCpu*>(r.kernel_data); }

// The park loop (platform/isr.asm): cli, then hlt forever. Its bounds let the NMI handler
// check where a wake found the CPU.
extern "C" [[noreturn]] void platform_park_loop() noexcept;
extern "C" const uint8_t platform_park_loop_end[];

[[noreturn]] inline void park_forever() noexcept { platform_park_loop(); }

inline bool in_park_loop(uint64_t rip) noexcept {
  return rip >= reinterpret_cast<uint64_t>(&platform_park_loop) &&
         rip < reinterpret_cast<uint64_t>(platform_park_loop_end);
}

// The CPU's idle loop: runs the hotplug torture when it holds the token (torture.hpp).
[[noreturn]] inline void idle_loop(CpuRecord& self);

// The AP side, one instantiation per APIC mode: what smpboot::ap_entry needs from us.
template <ApicMode M>
struct KernelApPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    const CpuRecord* boot_data = &boot_data_for(r);
    x86_64::load_gdt(boot_data->gdt_base, boot_data->gdt_limit, kCodeSelector, kDataSelector);
    x86_64::write_gs_base(boot_data->gs_base);
    x86_64::load_idt(r.idt_base, r.idt_limit);
  }
  static uint64_t now_us() noexcept { return tsc_clock().now_us(); }
  static bool cpu_setup(CpuRecord& r) noexcept {
    NativeMsr msr;
    if (read_apic_base(msr).mode() != M) {
      r.fail(Error::kX2ApicUnsupported);
      return false;
    }
    auto apic = make_apic<M>();
    apic.software_enable(kSpuriousVector);
    return true;
  }
  static void announce_online(CpuRecord&) noexcept {
    if (g_online_awaited.fetch_add(-1, MemoryOrder::kAcqRel) > 1) return;
    auto apic = make_apic<M>();
    (void)apic.send(IpiCommand::fixed(ApicId{g_controller_apic.load(MemoryOrder::kAcquire)},
                                      kWakeVector));
  }
  static void run(CpuRecord& r) noexcept { idle_loop(r); }
  static void park(CpuRecord&) noexcept { park_forever(); }
};

static_assert(ApPlatform<KernelApPlatform<ApicMode::kXApic>>);
static_assert(ApPlatform<KernelApPlatform<ApicMode::kX2Apic>>);

}  // namespace kernel
