// A stand-in for the example kernel's kmain, to test the platform layer alone: prints what the
// platform found (command line, ACPI tables, MADT CPU entries, TSC rate), checks interrupt
// dispatch, and exits with 0. `stub.fault=` provokes an error path:
//   1 or ud   ud2            -> report, exit 0x46     de   divide by zero -> exit 0x40
//   pf        read at 16 TiB -> report with CR2, 0x4E  nmi  self-NMI, handled: continue to exit 0
//   nmi-unhandled  self-NMI with no handler -> exit 0x42
//   triple    empty IDT + ud2 -> triple fault       hang cli; hlt forever (runner timeouts)
#include "platform.hpp"

namespace {

using platform::kprintf;

constinit uint32_t g_soft_interrupts = 0;
constinit uint32_t g_nmis = 0;

bool equals(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

void print_tables() {
  const platform::AcpiInfo& a = platform::acpi_info();
  kprintf("STUB acpi rsdp=0x%lx revision=%u oem=\"%s\" root=%s tables=%u\n", a.rsdp_phys,
          a.rsdp_revision, a.oem_id, a.using_xsdt ? "XSDT" : "RSDT", platform::acpi_table_count());
  for (uint32_t i = 0; i < platform::acpi_table_count(); ++i) {
    const platform::AcpiTable t = platform::acpi_table_at(i);
    kprintf("STUB acpi table %c%c%c%c length=%u at %p revision=%u\n", t.data[0], t.data[1],
            t.data[2], t.data[3], t.length, static_cast<const void*>(t.data), t.data[8]);
  }
  kprintf("STUB acpi pm_timer=0x%x width=%u pm1a_cnt=0x%x pm1b_cnt=0x%x s5=%s slp_typ=%u/%u\n",
          a.pm_timer_port, a.pm_timer_32bit ? 32u : 24u, a.pm1a_cnt_port, a.pm1b_cnt_port,
          a.s5_found ? "yes" : "no", a.s5_slp_typ_a, a.s5_slp_typ_b);
}

// MADT (ACPI 6.5 5.2.12): LAPIC address at 36, flags at 40, entries from 44, each
// {type, length, ...}. Type 0 "Processor Local APIC", type 9 "Processor Local x2APIC".
void print_madt() {
  const platform::AcpiTable madt = platform::acpi_find("APIC");
  if (!madt.data || madt.length < 44) {
    kprintf("STUB madt missing\n");
    return;
  }
  const uint8_t* p = madt.data;
  auto u32 = [](const uint8_t* q) {
    return uint32_t(q[0]) | uint32_t(q[1]) << 8 | uint32_t(q[2]) << 16 | uint32_t(q[3]) << 24;
  };
  kprintf("STUB madt lapic=0x%08x flags=0x%x\n", u32(p + 36), u32(p + 40));
  uint32_t cpus = 0, others = 0;
  for (uint32_t off = 44; off + 2 <= madt.length;) {
    const uint8_t type = p[off], len = p[off + 1];
    if (len < 2 || off + len > madt.length) {
      kprintf("STUB madt bad entry at offset %u (type %u length %u)\n", off, type, len);
      break;
    }
    if (type == 0 && len >= 8) {
      kprintf("STUB madt type=0 uid=%u apic_id=%u flags=0x%x\n", p[off + 2], p[off + 3],
              u32(p + off + 4));
      ++cpus;
    } else if (type == 9 && len >= 16) {
      kprintf("STUB madt type=9 x2apic_id=%u flags=0x%x uid=%u\n", u32(p + off + 4),
              u32(p + off + 8), u32(p + off + 12));
      ++cpus;
    } else {
      ++others;
    }
    off += len;
  }
  kprintf("STUB madt cpu_entries=%u other_entries=%u\n", cpus, others);
}

void on_soft_interrupt(platform::InterruptFrame& f) {
  if (f.vector == 0x80) __atomic_fetch_add(&g_soft_interrupts, 1, __ATOMIC_RELAXED);
}

void on_nmi(platform::InterruptFrame&) { __atomic_fetch_add(&g_nmis, 1, __ATOMIC_RELAXED); }

// NMI to ourselves by physical destination (the "self" shorthand does not allow NMI delivery:
// SDM Vol. 3A 11.6.1 "Interrupt Command Register (ICR)"). xAPIC only, which is enough here.
void send_self_nmi() {
  uint32_t id = 0;
  (void)platform::current_apic_id(id);
  auto* icr = reinterpret_cast<volatile uint32_t*>(uintptr_t(0xFEE00000));
  icr[0x310 / 4] = id << 24;
  icr[0x300 / 4] = 0x4400;  // delivery mode NMI, level assert
}

void provoke(const char* what) {
  kprintf("STUB provoking fault \"%s\"\n", what);
  if (equals(what, "1") || equals(what, "ud")) {
    asm volatile("ud2");
  } else if (equals(what, "de")) {
    asm volatile("xor %%ecx, %%ecx; div %%ecx" ::"a"(1), "d"(0) : "ecx");
  } else if (equals(what, "pf")) {
    (void)*reinterpret_cast<volatile uint64_t*>(0x1000'0000'0000ull);  // not mapped
  } else if (equals(what, "nmi") || equals(what, "nmi-unhandled")) {
    if (equals(what, "nmi")) platform::set_handler(2, on_nmi);
    send_self_nmi();
    const uint64_t start = platform::rdtsc();
    while (__atomic_load_n(&g_nmis, __ATOMIC_RELAXED) == 0 &&
           platform::tsc_to_us(platform::rdtsc() - start) < 100'000) {
      platform::cpu_pause();
    }
    kprintf("STUB nmi handled=%u\n", g_nmis);
    if (g_nmis == 0) platform::exit_emulator(2);
  } else if (equals(what, "triple")) {
    const struct [[gnu::packed]] {
      uint16_t limit;
      uint64_t base;
    } empty{0, 0};
    asm volatile("lidt %0; ud2" ::"m"(empty));  // #UD -> #DF -> shutdown (triple fault)
  } else if (equals(what, "hang")) {
    platform::cpu_halt_forever();
  } else {
    kprintf("STUB unknown stub.fault value\n");
  }
}

}  // namespace

extern "C" void kernel_main(uint32_t multiboot_info_phys) {
  platform::serial_init();
  platform::platform_init(multiboot_info_phys);
  kprintf("STUB boot cmdline=\"%s\"\n", platform::cmdline());
  platform::idt_init();
  platform::idt_load();
  platform::tsc_calibrate();

  kprintf("STUB fmt [%08x] [%5u] [%-5d] [%05d] [%lx] [%llu] [%ld] [%c] [%s] [%%]\n", 0xbeefu, 42u,
          -7, -42, 0x123456789abcul, 18446744073709551615ull, -1234567890123l, 'Z', "str");

  const uint64_t hz = platform::tsc_hz();
  kprintf("STUB tsc_hz=%lu source=%s (%lu.%03lu MHz)\n", hz, platform::tsc_calibration_source(),
          hz / 1'000'000, hz / 1000 % 1000);
  const uint64_t t0 = platform::rdtsc();
  platform::delay_us(20'000);
  kprintf("STUB delay_us(20000) took %lu us by the TSC\n",
          platform::tsc_to_us(platform::rdtsc() - t0));

  if (!platform::acpi_init()) {
    kprintf("STUB no ACPI\n");
    platform::exit_emulator(3);
  }
  print_tables();
  print_madt();

  uint32_t apic_id = 0;
  if (platform::current_apic_id(apic_id)) kprintf("STUB bsp apic_id=%u\n", apic_id);
  else kprintf("STUB bsp apic_id=unknown\n");

  uint64_t idt_base;
  uint16_t idt_limit;
  platform::idt_pointer(idt_base, idt_limit);
  platform::set_handler(0x80, on_soft_interrupt);
  asm volatile("int $0x80" ::: "memory");
  asm volatile("int $0x81" ::: "memory");  // no handler: one line, then back here
  kprintf("STUB idt base=0x%lx limit=%u int80_handled=%u\n", idt_base, idt_limit,
          g_soft_interrupts);

  void* a = platform::boot_alloc(16 * 1024, 16);
  void* b = platform::boot_alloc(100, 4096);
  kprintf("STUB boot_alloc %p %p remaining=%zu pml4=0x%lx\n", a, b,
          platform::boot_alloc_remaining(), platform::kernel_pml4_phys());

  char fault[16];
  if (platform::cmdline_get("stub.fault", fault, sizeof fault)) provoke(fault);

  const bool ok = g_soft_interrupts == 1 && a && b && (uintptr_t(b) & 4095) == 0;
  kprintf("STUB done status=%s\n", ok ? "ok" : "fail");
  platform::exit_emulator(ok ? 0 : 1);
}
