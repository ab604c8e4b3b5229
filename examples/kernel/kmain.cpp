// The smpboot example kernel: finds the CPUs in the MADT, brings every one up with the mode,
// delays, APIC mode and ID source chosen on the command line, and reports on COM1 in the
// stable SMPBOOT format (docs/example-kernel.md). It uses only smpboot's public API plus its
// own platform layer (platform/: serial, IDT, ACPI, TSC calibration, exit).
#include "kernel.hpp"
#include "torture.hpp"

extern "C" const uint8_t smpboot_trampoline_start[];
extern "C" const uint8_t smpboot_trampoline_end[];

namespace kernel {

void on_ipi(platform::InterruptFrame&) { lapic_eoi(); }
void on_spurious(platform::InterruptFrame&) {}  // SDM "Spurious Interrupt": no EOI

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
  percpu->pings.store(0, MemoryOrder::kRelaxed);
  percpu->check_failures.store(0, MemoryOrder::kRelaxed);
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

bool print_report(const BringupReport& report, const char* apic_name, uint32_t extra_failures) {
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
    platform::kprintf(
        "SMPBOOT CPU idx=%u apic=%u state=%s kick_us=%s alive_us=%s online_us=%s stage=%s\n",
        r.index, r.apic_id, cpu_state_name(r.load_state()), bsp ? "0" : rel(r.kick_us, k),
        bsp ? "0" : rel(r.alive_us, a), bsp ? "0" : rel(r.online_us, o),
        boot_stage_name(r.load_stage()));
    if (r.load_state() == CpuState::kFailed) {
      platform::kprintf("SMPBOOT NOTE cpu=%u apic=%u error=%s esr=0x%x\n", r.index, r.apic_id,
                        error_name(Error(r.error)), r.esr);
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

template <ApicMode M>
[[noreturn]] void bring_up(const Madt& madt, ApicId bsp_id) {
  using Platform = KernelApPlatform<M>;
  auto apic = make_apic<M>();
  apic.software_enable(kSpuriousVector);

  // Step 1: the table, BSP first, then every enabled MADT CPU up to smp.maxcpus.
  NativeCpuid cpuid;
  const Topology topology = decode_topology(cpuid);  // primaries before SMT siblings
  const MadtCpuCensus census = add_cpus_from_madt(g_cpus, madt, bsp_id, g_config.max_cpus, &topology);
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
  // smp.inject=dead_ap: an AP that never answers (the trampoline parks a CPU whose record has
  // no entry), to show the timeout path: that CPU is reported failed and the boot goes on.
  if (g_config.inject_dead_ap && g_cpus.size() > 1) g_cpus[g_cpus.size() - 1].entry = 0;

  // Step 2: the trampoline in its SIPI page. The APs get the BSP's EFER.NXE and APIC mode;
  // the kernel image is identity-mapped, so the table's address is its physical address too
  // (which lets each AP record the `protected` stage).
  NativeMsr efer_msr;
  TrampolineSetup setup = trampoline_setup_like_bsp(efer_msr, platform::kernel_pml4_phys());
  setup.id_source = g_config.id_source;
  setup.table_phys = reinterpret_cast<uint64_t>(&g_cpus);
  // smp.inject=ap_hang:<stage>: the AP with the highest index parks right after that stage.
  if (g_config.inject_ap_hang != BootStage::kNone && g_cpus.size() > 1) {
    setup.stop_index = g_cpus.size() - 1;
    setup.stop_stage = g_config.inject_ap_hang;
  }
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
  (void)mark_bsp_online(bsp, tsc_clock().now_us(), read_apic_base(msr).is_bsp());
  g_start_page = *page;
  g_controller_apic.store(bsp.apic_id, MemoryOrder::kRelease);
  g_inject_stale_bootdata = g_config.inject_cpu0_stale_bootdata;
  install_hotplug_handlers();
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
  auto kclock = tsc_clock();
  HaltWaiter waiter;
  // Serial mode waits for one AP at a time: every AP wakes the BSP.
  g_online_awaited.store(options.mode == BringupMode::kSerial ? 1 : int32_t(g_cpus.size()) - 1,
                         MemoryOrder::kRelease);
  const BringupReport report = bring_up_aps(g_cpus, apic, kclock, waiter, *page, options);
  apic.stop_timer();
  if (g_config.torture == 0) {
    finish(print_report(report, apic_mode_name(M), g_config.cmdline_refused));
  }
  start_torture<M>(report, bsp);  // torture.hpp; the BSP becomes an ordinary idle CPU
}

}  // namespace kernel

extern "C" void kernel_main(uint32_t multiboot_info_phys) {
  using namespace kernel;
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
  NativeMsr msr;
  NativeCpuid cpuid;
  // The xAPIC page is where IA32_APIC_BASE says (the MADT's address is only the firmware's
  // copy of it), and enabling a mode does not move it.
  g_lapic_base = read_apic_base(msr).base_phys();
  g_apic_mode = read_apic_base(msr).mode();
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
    (void)g_cpus.add(current_apic_id());
    (void)mark_bsp_online(g_cpus[0], tsc_clock().now_us(), read_apic_base(msr).is_bsp());
    BringupReport report;
    report.intended = report.online = 1;
    report.start_us = report.end_us = g_cpus[0].online_us;
    report.error = mode.error();
    (void)print_report(report, apic_mode_name(wanted));
    finish(false);
  }
  g_apic_mode = *mode;

  if (g_apic_mode == ApicMode::kX2Apic) {
    g_timer_counts_per_ms = calibrate_apic_timer<ApicMode::kX2Apic>();
    bring_up<ApicMode::kX2Apic>(*madt, make_apic<ApicMode::kX2Apic>().id());
  } else {
    g_timer_counts_per_ms = calibrate_apic_timer<ApicMode::kXApic>();
    bring_up<ApicMode::kXApic>(*madt, make_apic<ApicMode::kXApic>().id());
  }
}
