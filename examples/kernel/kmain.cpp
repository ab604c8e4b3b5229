// The smpboot example kernel: finds the CPUs in the MADT, brings every one up with the mode,
// delays, APIC mode and ID source chosen on the command line, optionally runs the hotplug
// torture, and reports on COM1 in the stable SMPBOOT format (docs/example-kernel.md).
//
// Files, each using only what the ones before it define:
//   platform/      serial, IDT, ACPI, TSC, command line, exit          (no smpboot)
//   smp_config.hpp the smp.* command-line parameters
//   cpu.hpp        the CPU table, per-CPU data, vectors, KernelApPlatform<Mode>
//   smp.cpp        the bringup an OS author copies
//   hotplug.cpp    offline/online for any CPU, the NMI path for CPU0
//   report.cpp     the SMPBOOT CPU and RESULT lines
//   torture/       fault injection and the hotplug torture with its watchdog
//   kmain.cpp      this file: choose the APIC mode once, then run kernel_main<Mode>
#include "torture/torture.hpp"

namespace kernel {
namespace {

// Everything below the mode choice runs for one APIC mode: nothing branches on it again.
template <ApicMode M>
[[noreturn]] void kernel_main(const Madt& madt) {
  install_fault_injection();
  install_hotplug_handlers<M>();
  const BringupReport report = bring_up_cpus<M>(madt);
  if (g_config.torture == 0) finish(print_report(report, apic_mode_name(M), g_config.cmdline_refused));
  run_torture<M>(report);
}

// The APIC mode the command line asks for. `auto` takes what the firmware left when that is
// x2APIC: x2APIC -> xAPIC is not a legal transition (SDM Vol. 3A 11.12.5 "x2APIC State
// Transitions": only through disabling the APIC, which would lose its state), and firmware only
// leaves x2APIC on when it must (APIC IDs above 254). An explicit smp.apic=xapic on such a CPU
// is refused by enable_apic_mode (x2apic_to_xapic_refused), never quietly turned into x2APIC.
ApicMode wanted_apic_mode(NativeMsr& msr, NativeCpuid& cpuid) {
  if (g_config.apic == SmpConfig::Apic::kX2Apic) return ApicMode::kX2Apic;
  if (g_config.apic == SmpConfig::Apic::kXApic) return ApicMode::kXApic;
  return read_apic_base(msr).x2apic() ? ApicMode::kX2Apic : preferred_apic_mode(cpuid);
}

// The mode was refused: report the BSP alone, still in its firmware APIC mode.
[[noreturn]] void report_refused_mode(ApicMode wanted, Error why, NativeMsr& msr, NativeCpuid& cpuid) {
  platform::kprintf("SMPBOOT NOTE apic=%s refused: %s (CPUID.01H:ECX[21] x2APIC=%u)\n",
                    apic_mode_name(wanted), error_name(why), unsigned(cpu_supports_x2apic(cpuid)));
  uint32_t bsp_id = 0;
  (void)platform::current_apic_id(bsp_id);
  (void)g_cpus.add(ApicId{bsp_id});
  (void)mark_bsp_online(g_cpus[0], tsc_clock().now_us(), read_apic_base(msr).is_bsp());
  BringupReport report;
  report.intended = report.online = 1;
  report.start_us = report.end_us = g_cpus[0].online_us;
  report.error = why;
  (void)print_report(report, apic_mode_name(wanted));
  finish(false);
}

}  // namespace
}  // namespace kernel

extern "C" void kernel_main(uint32_t multiboot_info_phys) {
  using namespace kernel;
  platform::serial_init();
  platform::platform_init(multiboot_info_phys);
  g_config.parse();
  print_boot_line();  // cmdline, protocol, memory map source, chosen SIPI page
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
  if (g_config.inject_firmware_x2apic) {  // what firmware does on a machine that needs x2APIC
    auto firmware = enable_apic_mode(msr, cpuid, ApicMode::kX2Apic);
    platform::kprintf("SMPBOOT NOTE firmware_x2apic: the BSP %s x2APIC mode before the kernel\n",
                      firmware ? "entered" : "could not enter");
  }
  const ApicMode wanted = wanted_apic_mode(msr, cpuid);
  auto mode = enable_apic_mode(msr, cpuid, wanted);
  if (!mode) report_refused_mode(wanted, mode.error(), msr, cpuid);
  if (*mode == ApicMode::kX2Apic) kernel::kernel_main<ApicMode::kX2Apic>(*madt);
  kernel::kernel_main<ApicMode::kXApic>(*madt);
}
