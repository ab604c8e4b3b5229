// What every CPU of the example kernel is: its boot record in the one CPU table, the per-CPU
// block GS points to, the interrupt vectors, the APIC policy of the kernel's mode, and
// KernelApPlatform<Mode>, the kernel's side of smpboot::ap_entry, which every CPU runs when it
// wakes (an AP by INIT/SIPI/SIPI, CPU0 by NMI). Everything here is instantiated for one APIC
// mode, chosen once in kmain.cpp; nothing branches on the mode at run time.
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
inline constexpr uint8_t kPingVector = 0xF3;     // "check yourself and answer" (torture)
inline constexpr uint8_t kSpuriousVector = 0xFF;
inline constexpr uint64_t kStackBytes = 16 * 1024;
inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;

// Per-CPU data that GS points to. The GDT is per CPU so that a CPU's descriptor tables are
// provably its own (the hotplug torture checks it).
struct alignas(64) PerCpu {
  PerCpu* self;
  CpuRecord* record;
  uint64_t gdt[3];
  Atomic<uint32_t> pings;           // ping IPIs answered (torture)
  Atomic<uint32_t> check_failures;  // self-checks that failed (wrong GS, stack, GDT, IDT)
};

inline constinit CpuTable<kMaxCpus> g_cpus;
inline constinit SmpConfig g_config;
inline constinit uint64_t g_lapic_base = 0xFEE0'0000;  // from IA32_APIC_BASE (kmain.cpp)
inline constinit uint32_t g_timer_counts_per_ms = 0;   // APIC timer, calibrated at boot
// How many CPUs the waiting controller still waits for. Only the CPU that takes it to zero
// (or below) wakes the controller: one IPI per wait instead of one per AP, so 255 APs
// coming online do not wake the BSP 255 times.
inline constinit Atomic<int32_t> g_online_awaited{1};

// What an online CPU does between interrupts, besides sleeping: nothing, unless a test
// harness (torture/) hooks in. Called with interrupts off; returns to sleep.
using IdleHook = void (*)(CpuRecord& self);
inline constinit Atomic<IdleHook> g_idle_hook{nullptr};

// Fault injection (torture/inject.hpp) may make a waking CPU use another record's boot data,
// as Linux's parallel-bringup v7 did; null (always, outside that test) = the CPU's own record.
using BootDataFault = const CpuRecord* (*)(const CpuRecord& waking);
inline constinit BootDataFault g_boot_data_fault = nullptr;

inline const CpuRecord& boot_data_for(const CpuRecord& r) noexcept {
  const CpuRecord* other = g_boot_data_fault ? g_boot_data_fault(r) : nullptr;
  return other ? *other : r;
}

// How many of the CPU's GS base, stack, GDT and IDT are not those its record names (0 on every
// correct wake path). Checked when a CPU wakes and again whenever the torture pings it.
inline uint32_t boot_data_mismatches(const CpuRecord& self) noexcept {
  uint32_t bad = 0;
  const uint64_t gs = x86_64::read_gs_base();
  bad += gs != self.gs_base || reinterpret_cast<const PerCpu*>(gs)->record != &self;
  const uint64_t rsp = x86_64::read_stack_pointer();
  bad += rsp > self.stack_top || rsp <= self.stack_top - kStackBytes;
  bad += x86_64::store_gdt().base != self.gdt_base;
  bad += x86_64::store_idt().base != self.idt_base;
  return bad;
}

// The kernel's smpboot Clock: the TSC at the frequency calibrated at boot (same on every CPU).
inline TscClock<NativeCpu> tsc_clock() noexcept {
  return TscClock<NativeCpu>(NativeCpu{}, platform::tsc_hz());
}

// Waiting CPUs sleep: sti; hlt, woken by an IPI or their APIC-timer tick (never spin: under
// TCG a spinning vCPU starves the others). The Waiter contract asks wait() to return by the
// deadline it is given: every wait here runs with the periodic APIC timer started (kTimerVector,
// 1 ms in bring_up_cpus and torture_cycle, SDM Vol. 3A 11.5.4 "APIC Timer"), so a sleep
// overruns the deadline by at most one tick and there is no one-shot to arm. The interrupt
// window around the waits (mask, restore) is NativeCpuHalt's.
struct HaltWaiter : x86_64::NativeCpuHalt {
  void wait(const WaitDeadline&) noexcept { halt_until_interrupt(); }
};

template <ApicMode M>
auto make_apic() noexcept {
  if constexpr (M == ApicMode::kX2Apic) {
    return X2Apic<NativeMsr>(NativeMsr{});
  } else {
    return XApic<NativeMmio>(NativeMmio(uintptr_t(g_lapic_base)));
  }
}

template <ApicMode M>
void lapic_eoi() noexcept {
  make_apic<M>().eoi();
}

template <ApicMode M>
CpuRecord* my_record() noexcept {
  return g_cpus.find_record(make_apic<M>().id());
}

inline PerCpu& percpu_of(CpuRecord& r) noexcept { return *reinterpret_cast<PerCpu*>(r.kernel_data); }

// The library's park loop (nmi_entry.o): an NMI wake of CPU0 must find it there.
[[noreturn]] inline void park_forever() noexcept { x86_64::park(); }

// An online CPU's life: sleep until an interrupt, run the idle hook if one is set.
template <ApicMode M>
[[noreturn]] void idle_loop(CpuRecord& self) noexcept {
  for (;;) {
    asm volatile("cli" ::: "memory");
    if (IdleHook hook = g_idle_hook.load(MemoryOrder::kAcquire)) hook(self);
    NativeCpu{}.enable_interrupts_and_halt();
  }
}

// The AP side, one instantiation per APIC mode: what smpboot::ap_entry needs from us.
template <ApicMode M>
struct KernelApPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    x86_64::install_record_state(boot_data_for(r), {kCodeSelector, kDataSelector});
  }
  static uint64_t now_us() noexcept { return tsc_clock().now_us(); }
  static bool cpu_setup(CpuRecord& r) noexcept {
    // Running on another CPU's stack or GS base (what Linux's parallel-bringup v7 did to
    // CPU0) corrupts that CPU: stop here, before this CPU does anything else on them.
    if (boot_data_mismatches(r) != 0) return false;
    NativeMsr msr;
    if (read_apic_base(msr).mode() != M) {
      r.fail(Error::kX2ApicUnsupported);
      return false;
    }
    make_apic<M>().software_enable(kSpuriousVector);
    return true;
  }
  // The CPU that woke this one (the BSP at boot, the torture's controller later) waits.
  static void announce_online(CpuRecord& r) noexcept {
    if (g_online_awaited.fetch_add(-1, MemoryOrder::kAcqRel) > 1) return;
    (void)make_apic<M>().send(IpiCommand::fixed(r.controller(), kWakeVector));
  }
  static void run(CpuRecord& r) noexcept { idle_loop<M>(r); }
  static void park(CpuRecord&) noexcept { park_forever(); }
};

static_assert(ApPlatform<KernelApPlatform<ApicMode::kXApic>>);
static_assert(ApPlatform<KernelApPlatform<ApicMode::kX2Apic>>);

}  // namespace kernel
