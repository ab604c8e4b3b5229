// The smpboot example kernel: finds the CPUs in the MADT, brings every one up with the mode,
// delays, APIC mode and ID source chosen on the command line, and reports on COM1 in the
// stable SMPBOOT format (docs/example-kernel.md). It uses only smpboot's public API plus its
// own platform layer (platform/: serial, IDT, ACPI, TSC calibration, exit).
#include <smpboot/arch/x86_64/descriptors.hpp>
#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/smpboot.hpp>

#include "platform/platform.hpp"
#include "smp_config.hpp"

extern "C" const uint8_t smpboot_trampoline_start[];
extern "C" const uint8_t smpboot_trampoline_end[];

namespace {

using namespace smpboot;
using x86_64::NativeCpu;
using x86_64::NativeCpuid;
using x86_64::NativeMmio;
using x86_64::NativeMsr;

constexpr uint32_t kMaxCpus = 1024;
constexpr uint8_t kWakeVector = 0xF0;     // "something changed, look again": EOI only
constexpr uint8_t kTimerVector = 0xF1;    // backstop tick while a CPU sleeps in a wait
constexpr uint8_t kSpuriousVector = 0xFF;
constexpr uint64_t kStackBytes = 16 * 1024;
constexpr uint64_t kTrampolinePhys = 0x8000;  // SIPI vector 0x08, free below 1 MiB
constexpr uint16_t kCodeSelector = 0x08;
constexpr uint16_t kDataSelector = 0x10;

// Per-CPU data that GS points to. The GDT is per CPU so that a CPU's descriptor tables are
// its own (what the hotplug torture checks).
struct alignas(64) PerCpu {
  PerCpu* self;
  CpuRecord* record;
  uint64_t gdt[3];
};

constinit CpuTable<kMaxCpus> g_cpus;
constinit SmpConfig g_config;
constinit ApicMode g_apic_mode = ApicMode::kXApic;
constinit uint64_t g_lapic_base = 0xFEE0'0000;
constinit uint32_t g_controller_apic = 0;  // who waits for APs: gets their online IPIs
constinit uint32_t g_timer_counts_per_ms = 0;

NativeCpu g_cpu;

TscClock<NativeCpu> clock() noexcept { return TscClock<NativeCpu>(NativeCpu{}, platform::tsc_hz()); }

struct KernelClock {
  uint64_t now_us() noexcept { return clock().now_us(); }
  void delay_us(uint64_t us) noexcept { platform::delay_us(us); }
};

using XApicNative = XApic<NativeMmio>;
using X2ApicNative = X2Apic<NativeMsr>;

template <ApicMode M>
auto make_apic() noexcept {
  if constexpr (M == ApicMode::kX2Apic) {
    return X2ApicNative(NativeMsr{});
  } else {
    return XApicNative(NativeMmio(uintptr_t(g_lapic_base)));
  }
}

void lapic_eoi() noexcept {
  if (g_apic_mode == ApicMode::kX2Apic) make_apic<ApicMode::kX2Apic>().eoi();
  else make_apic<ApicMode::kXApic>().eoi();
}

void on_ipi(platform::InterruptFrame&) { lapic_eoi(); }
void on_spurious(platform::InterruptFrame&) {}  // SDM 11.9: no EOI for the spurious vector

// The AP side, one instantiation per APIC mode: what ap_entry needs from this kernel.
template <ApicMode M>
struct KernelApPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    x86_64::load_gdt(r.gdt_base, r.gdt_limit, kCodeSelector, kDataSelector);
    x86_64::write_gs_base(r.gs_base);
    x86_64::load_idt(r.idt_base, r.idt_limit);
  }
  static uint64_t now_us() noexcept { return clock().now_us(); }
  static bool cpu_setup(CpuRecord& r) noexcept {
    NativeMsr msr;
    if (read_apic_base(msr).mode() != M) {
      r.fail(Error::kX2ApicUnsupported);
      return false;
    }
    auto apic = make_apic<M>();
    apic.software_enable(kSpuriousVector);
    return apic.id().value == r.apic_id;
  }
  static void announce_online(CpuRecord&) noexcept {
    auto apic = make_apic<M>();
    (void)apic.send(IpiCommand::fixed(ApicId{g_controller_apic}, kWakeVector));
  }
  [[noreturn]] static void run(CpuRecord&) noexcept {
    for (;;) g_cpu.enable_interrupts_and_halt();
  }
  [[noreturn]] static void park(CpuRecord&) noexcept {
    for (;;) asm volatile("cli; hlt" ::: "memory");
  }
};

static_assert(ApPlatform<KernelApPlatform<ApicMode::kXApic>>);
static_assert(ApPlatform<KernelApPlatform<ApicMode::kX2Apic>>);

// The BSP sleeps while it waits: sti; hlt, woken by an AP's online IPI or the timer tick.
struct HaltWaiter {
  void wait() noexcept { asm volatile("sti; hlt; cli" ::: "memory"); }
};

void build_gdt(uint64_t* gdt) {
  gdt[0] = 0;
  gdt[1] = 0x00209A0000000000;  // 0x08: 64-bit code, DPL 0 (SDM 3.4.5, L=1)
  gdt[2] = 0x0000920000000000;  // 0x10: data
}

// Gives record `r` its stack, per-CPU block, GDT, IDT and entry point.
bool prepare_record(CpuRecord& r, CpuEntryFn entry) {
  auto* stack = static_cast<uint8_t*>(platform::boot_alloc(kStackBytes, 16));
  auto* percpu = static_cast<PerCpu*>(platform::boot_alloc(sizeof(PerCpu), 64));
  if (!stack || !percpu) return false;
  percpu->self = percpu;
  percpu->record = &r;
  build_gdt(percpu->gdt);
  uint64_t idt_base;
  uint16_t idt_limit;
  platform::idt_pointer(idt_base, idt_limit);
  r.stack_top = reinterpret_cast<uint64_t>(stack + kStackBytes);
  r.entry = reinterpret_cast<uint64_t>(entry);
  r.gs_base = reinterpret_cast<uint64_t>(percpu);
  r.kernel_data = r.gs_base;
  r.gdt_base = reinterpret_cast<uint64_t>(percpu->gdt);
  r.gdt_limit = sizeof(percpu->gdt) - 1;
  r.idt_base = idt_base;
  r.idt_limit = idt_limit;
  return true;
}

template <ApicMode M>
uint32_t calibrate_apic_timer() {
  auto apic = make_apic<M>();
  apic.start_one_shot_timer(kTimerVector, 0xFFFF'FFFFu);
  platform::delay_us(2000);
  const uint32_t elapsed = 0xFFFF'FFFFu - apic.timer_current_count();
  apic.stop_timer();
  const uint32_t per_ms = elapsed / 2;
  return per_ms ? per_ms : 1000;
}

void print_report(const BringupReport& report, const char* apic_name) {
  const uint64_t t0 = report.start_us;
  auto rel = [t0](uint64_t t, char* buf) -> const char* {
    if (t == 0) return "-";
    uint64_t v = t >= t0 ? t - t0 : 0;
    char tmp[24];
    int n = 0;
    do { tmp[n++] = char('0' + v % 10); v /= 10; } while (v);
    for (int i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
  };
  for (const auto& r : g_cpus) {
    char k[24], a[24], o[24];
    const bool bsp = r.index == 0;
    platform::kprintf("SMPBOOT CPU idx=%u apic=%u state=%s kick_us=%s alive_us=%s online_us=%s\n",
                      r.index, r.apic_id, cpu_state_name(r.load_state()),
                      bsp ? "0" : rel(r.kick_us, k), bsp ? "0" : rel(r.alive_us, a),
                      bsp ? "0" : rel(r.online_us, o));
    if (r.load_state() == CpuState::kFailed) {
      platform::kprintf("SMPBOOT NOTE cpu=%u apic=%u error=%s esr=0x%x\n", r.index, r.apic_id,
                        error_name(Error(r.error)), r.esr);
    }
  }
  const bool ok = report.error == Error::kNone && report.failed == 0 && report.online == report.intended;
  platform::kprintf(
      "SMPBOOT RESULT status=%s cpus=%u online=%u failed=%u mode=%s apic=%s id=%s delays=%s "
      "bringup_us=%lu\n",
      ok ? "ok" : "fail", report.intended, report.online, report.failed,
      bringup_mode_name(g_config.mode), apic_name, g_config.id_source_name(),
      g_config.delays_name(), (unsigned long)(report.end_us - report.start_us));
}

[[noreturn]] void finish(bool ok) { platform::exit_emulator(ok ? 0 : 1); }

template <ApicMode M>
[[noreturn]] void bring_up(const Madt& madt, ApicId bsp_id) {
  using Platform = KernelApPlatform<M>;
  auto apic = make_apic<M>();
  apic.software_enable(kSpuriousVector);

  // Step 1: the table, BSP first, then every enabled MADT CPU up to smp.maxcpus.
  const MadtCpuCensus census = add_cpus_from_madt(g_cpus, madt, bsp_id, g_config.max_cpus);
  if (census.walk_error != Error::kNone) {
    platform::kprintf("SMPBOOT NOTE madt_error=%s (CPUs listed before it are used)\n",
                      error_name(census.walk_error));
  }
  for (auto& r : g_cpus) {
    if (!prepare_record(r, &ap_entry<Platform>)) {
      platform::kprintf("SMPBOOT NOTE out of memory for cpu %u\n", r.index);
      finish(false);
    }
  }
  CpuRecord& bsp = g_cpus[0];
  Platform::install_cpu_state(bsp);

  // Step 2: the trampoline in its SIPI page.
  TrampolineSetup setup;
  setup.cr3 = uint32_t(platform::kernel_pml4_phys());
  setup.x2apic = M == ApicMode::kX2Apic;
  setup.nxe = true;
  setup.id_source = g_config.id_source;
  auto page = install_trampoline(reinterpret_cast<void*>(kTrampolinePhys), kTrampolinePhys,
                                 smpboot_trampoline_start,
                                 size_t(smpboot_trampoline_end - smpboot_trampoline_start), setup,
                                 g_cpus);
  if (!page) {
    platform::kprintf("SMPBOOT NOTE trampoline refused: %s\n", error_name(page.error()));
    finish(false);
  }

  // Steps 3-5.
  NativeMsr msr;
  (void)mark_bsp_online(bsp, clock().now_us(), read_apic_base(msr).is_bsp());
  g_controller_apic = bsp.apic_id;
  BringupOptions options;
  options.mode = g_config.mode;
  options.delays = g_config.resolve_delays();
  options.timeout_us = g_config.timeout_us;
  options.broadcast_safe = broadcast_is_safe(census);
  if (options.mode == BringupMode::kBroadcast && !options.broadcast_safe) {
    platform::kprintf(
        "SMPBOOT NOTE broadcast refused: INIT/SIPI to all-excluding-self would also hit %u "
        "disabled, %u online-capable and %u left-out CPUs%s; use smp.mode=parallel\n",
        census.disabled, census.online_capable, census.not_added,
        census.walk_error != Error::kNone ? " and the MADT is malformed" : "");
  }
  platform::set_handler(kWakeVector, on_ipi);
  platform::set_handler(kTimerVector, on_ipi);
  platform::set_handler(kSpuriousVector, on_spurious);
  apic.start_periodic_timer(kTimerVector, g_timer_counts_per_ms ? g_timer_counts_per_ms : 100000);
  KernelClock kclock;
  HaltWaiter waiter;
  const BringupReport report = bring_up_aps(g_cpus, apic, kclock, waiter, *page, options);
  apic.stop_timer();
  print_report(report, apic_mode_name(M));
  finish(report.error == Error::kNone && report.failed == 0 && report.online == report.intended);
}

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_phys) {
  platform::serial_init();
  platform::platform_init(multiboot_info_phys);
  g_config.parse();
  platform::kprintf("SMPBOOT BOOT cmdline=\"%s\"\n", platform::cmdline());
  platform::idt_init();
  platform::idt_load();
  platform::tsc_calibrate();

  if (!platform::acpi_init()) {
    platform::kprintf("SMPBOOT NOTE no ACPI RSDP found\n");
    finish(false);
  }
  const platform::AcpiTable apic_table = platform::acpi_find("APIC");
  auto madt = Madt::parse(apic_table.data, apic_table.length);
  if (!madt) {
    platform::kprintf("SMPBOOT NOTE no usable MADT: %s\n", error_name(madt.error()));
    finish(false);
  }
  if (madt->local_apic_phys() != 0) g_lapic_base = madt->local_apic_phys();

  NativeMsr msr;
  NativeCpuid cpuid;
  ApicMode wanted = g_config.apic == SmpConfig::Apic::kX2Apic  ? ApicMode::kX2Apic
                    : g_config.apic == SmpConfig::Apic::kXApic ? ApicMode::kXApic
                                                               : preferred_apic_mode(cpuid);
  if (wanted == ApicMode::kXApic && read_apic_base(msr).x2apic()) wanted = ApicMode::kX2Apic;
  auto mode = enable_apic_mode(msr, cpuid, wanted);
  if (!mode) {
    platform::kprintf("SMPBOOT NOTE apic=%s refused: %s (CPUID.01H:ECX[21] x2APIC=%u)\n",
                      apic_mode_name(wanted), error_name(mode.error()),
                      unsigned(cpu_supports_x2apic(cpuid)));
    // Report the BSP alone, still running in its firmware APIC mode.
    const ApicId bsp_id = read_apic_base(msr).x2apic() ? make_apic<ApicMode::kX2Apic>().id()
                                                       : make_apic<ApicMode::kXApic>().id();
    (void)g_cpus.add(bsp_id);
    (void)mark_bsp_online(g_cpus[0], clock().now_us(), read_apic_base(msr).is_bsp());
    BringupReport report;
    report.intended = report.online = 1;
    report.start_us = report.end_us = g_cpus[0].online_us;
    report.error = mode.error();
    print_report(report, apic_mode_name(wanted));
    finish(false);
  }
  g_apic_mode = *mode;
  if (g_lapic_base != read_apic_base(msr).base_phys()) g_lapic_base = read_apic_base(msr).base_phys();

  if (g_apic_mode == ApicMode::kX2Apic) {
    g_timer_counts_per_ms = calibrate_apic_timer<ApicMode::kX2Apic>();
    bring_up<ApicMode::kX2Apic>(*madt, make_apic<ApicMode::kX2Apic>().id());
  } else {
    g_timer_counts_per_ms = calibrate_apic_timer<ApicMode::kXApic>();
    bring_up<ApicMode::kXApic>(*madt, make_apic<ApicMode::kXApic>().id());
  }
}
