// The model of an smpboot bringup, in the steps of boot/bringup.hpp (and of the SDM's
// MP-initialization example, Vol. 3A 9.4.4.1):
//   1. the CPU table from the MADT, and one boot record per CPU (stack, GS base, GDT, entry);
//   2. the trampoline in its SIPI page;
//   3.-5. the BSP marked online, every AP woken, the BSP asleep until all are online or the
//   deadline passed. A CPU that fails is reported; the boot goes on.
#include "smp.hpp"

#include "mailbox.hpp"

extern "C" const uint8_t smpboot_trampoline_start[];  // trampoline_blob.asm: the built blob
extern "C" const uint8_t smpboot_trampoline_end[];

namespace kernel {
namespace {


[[noreturn]] void fatal(const char* what, const char* why) {
  platform::kprintf("SMPBOOT NOTE %s: %s\n", what, why);
  platform::exit_emulator(1);
}

// Each CPU's own GDT: null, 64-bit code, data (SDM Vol. 3A 3.4.5; L=1 marks 64-bit code).
void build_gdt(uint64_t* gdt) {
  gdt[0] = 0;
  gdt[1] = 0x00209A0000000000;  // 0x08: 64-bit code, DPL 0
  gdt[2] = 0x0000920000000000;  // 0x10: data
}

// Everything any wake path needs to enter the kernel on this CPU: one record per CPU.
bool prepare_record(CpuRecord& r, CpuEntryFn entry) {
  auto* stack = static_cast<uint8_t*>(platform::boot_alloc(kStackBytes, 16));
  auto* percpu = static_cast<PerCpu*>(platform::boot_alloc(sizeof(PerCpu), 64));
  if (!stack || !percpu) return false;
  percpu->self = percpu;
  percpu->record = &r;
  build_gdt(percpu->gdt);
  r.stack_top = reinterpret_cast<uint64_t>(stack + kStackBytes);
  r.entry = reinterpret_cast<uint64_t>(entry);
  r.gs_base = r.kernel_data = reinterpret_cast<uint64_t>(percpu);
  r.gdt_base = reinterpret_cast<uint64_t>(percpu->gdt);
  r.gdt_limit = sizeof(percpu->gdt) - 1;
  platform::idt_pointer(r.idt_base, r.idt_limit);
  return true;
}

// Waiting CPUs sleep in hlt; the APIC timer is their backstop tick (SDM Vol. 3A 11.5.4).
template <ApicMode M>
uint32_t apic_timer_counts_per_ms() {
  auto apic = make_apic<M>();
  apic.start_one_shot_timer(kTimerVector, 0xFFFF'FFFFu);
  platform::delay_us(2000);
  const uint32_t per_ms = (0xFFFF'FFFFu - apic.timer_current_count()) / 2;
  apic.stop_timer();
  return per_ms ? per_ms : 1000;
}

template <ApicMode M>
void on_wake(platform::InterruptFrame&) { lapic_eoi<M>(); }
void on_spurious(platform::InterruptFrame&) {}  // SDM 11.9 "Spurious Interrupt": no EOI

}  // namespace

template <ApicMode M>
BringupReport bring_up_cpus(const Madt& madt) {
  auto apic = make_apic<M>();
  apic.software_enable(kSpuriousVector);
  NativeMsr msr;
  NativeCpuid cpuid;

  // 1. The table: BSP first, then every enabled MADT CPU up to smp.maxcpus, primary threads
  //    before their SMT siblings.
  const Topology topology = decode_topology(cpuid);
  const MadtCpuCensus census = add_cpus_from_madt(g_cpus, madt, apic.id(), g_config.max_cpus, &topology);
  if (census.walk_error != Error::kNone) {
    platform::kprintf("SMPBOOT NOTE madt_error=%s (CPUs listed before it are used)\n",
                      error_name(census.walk_error));
  }
  for (auto& r : g_cpus) {
    if (!prepare_record(r, &ap_entry<KernelApPlatform<M>>)) fatal("out of memory for cpu", "boot_alloc");
  }
  KernelApPlatform<M>::install_cpu_state(g_cpus[0]);  // the BSP runs on its record's tables too

  // 2. The trampoline: the APs get the BSP's EFER.NXE and APIC mode; the kernel image is
  //    identity-mapped, so the table's address is also its physical address (which lets each
  //    AP record the `protected` stage).
  TrampolineSetup setup = trampoline_setup_like_bsp(msr, platform::kernel_pml4_phys());
  setup.id_source = g_config.id_source;
  setup.table_phys = reinterpret_cast<uint64_t>(&g_cpus);
  if (g_bringup_fault) g_bringup_fault(g_cpus, setup);
  // The SIPI page the platform chose from the firmware memory map (choose_sipi_page); 0 if
  // none was free, which install_trampoline refuses (invalid_start_page).
  auto page = install_trampoline(reinterpret_cast<void*>(platform::sipi_page_phys()), platform::sipi_page_phys(),
                                 smpboot_trampoline_start,
                                 size_t(smpboot_trampoline_end - smpboot_trampoline_start), setup,
                                 g_cpus);
  if (!page) fatal("trampoline refused", error_name(page.error()));
  g_start_page = *page;

  // 3. The BSP is online; INIT is never sent to the firmware BSP (IA32_APIC_BASE.BSP).
  (void)mark_bsp_online(g_cpus[0], tsc_clock().now_us(), read_apic_base(msr).is_bsp());

  // 4.-5. Wake, then sleep until every AP is online or the deadline passed. Serial mode waits
  //    for one AP at a time, so every AP wakes the BSP; otherwise only the last one does.
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
  platform::set_handler(kWakeVector, on_wake<M>);
  platform::set_handler(kTimerVector, on_wake<M>);
  platform::set_handler(kSpuriousVector, on_spurious);
  if (g_timer_counts_per_ms == 0) g_timer_counts_per_ms = apic_timer_counts_per_ms<M>();
  const bool mailbox = g_config.wake == SmpConfig::Wake::kMailbox;
  g_online_awaited.store(options.mode == BringupMode::kSerial && !mailbox ? 1 : int32_t(g_cpus.size()) - 1,
                         MemoryOrder::kRelease);
  apic.start_periodic_timer(kTimerVector, g_timer_counts_per_ms);
  auto clock = tsc_clock();
  HaltWaiter waiter;
  BringupReport report;
  if (mailbox) {
    // smp.wake=mailbox: the firmware's part first (mailbox.cpp parks the APs in the ACPI
    // mailbox loop), then every AP through the mailbox only: one request at a time, each AP
    // entering the trampoline's 64-bit mailbox entry and from there the same record entry.
    const uint32_t parked = park_aps_in_mailbox_loop<M>(setup, options);
    platform::kprintf("SMPBOOT NOTE mailbox: %u APs parked in the mailbox loop\n", parked);
    auto vector = mailbox_wakeup_vector(reinterpret_cast<void*>(page->phys_addr()));
    if (!vector) fatal("mailbox wakeup vector", error_name(vector.error()));
    MailboxPointer box(&firmware_mailbox());
    MailboxWakeOptions mailbox_options;
    mailbox_options.timeout_us = options.timeout_us;
    mailbox_options.delays = options.delays;
    report = bring_up_aps_mailbox(g_cpus, box, apic, clock, waiter, *vector, mailbox_options);
  } else {
    report = bring_up_aps(g_cpus, apic, clock, waiter, *page, options);
  }
  apic.stop_timer();
  return report;
}

template BringupReport bring_up_cpus<ApicMode::kXApic>(const Madt&);
template BringupReport bring_up_cpus<ApicMode::kX2Apic>(const Madt&);

}  // namespace kernel
