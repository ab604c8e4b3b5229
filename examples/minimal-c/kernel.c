/* The smallest complete smpboot kernel in C11, over the C API (smpboot/smpboot.h): it brings
 * every CPU up in parallel, takes an AP offline and back, then has that AP take CPU0 offline
 * and wake it again by NMI, prints what happened and exits QEMU through isa-debug-exit.
 * The trampoline (incbin'd in boot.asm), the NMI entry and park loop (nmi_entry.o), the clock
 * and the waiter all come from the library. xAPIC mode, as QEMU's TCG emulates it. */
#include <smpboot/smpboot.h>
#include <stdatomic.h>

enum {
  WAKE_VECTOR = 0xF0,    /* "look at the records again": EOI only */
  OFFLINE_VECTOR = 0xF1, /* "go offline" */
  TIMER_VECTOR = 0xF2,   /* the library's waiter: one-shot APIC timer, EOI only */
  SPURIOUS_VECTOR = 0xFF,
  STACK_BYTES = 16 * 1024,
};
#define SIPI_PAGE_PHYS 0x8000u /* free below 1 MiB on SeaBIOS and Bochs BIOS */
#define TIMEOUT_US 2000000u

extern unsigned char boot_gdt[], boot_pml4[];
extern const unsigned char smpboot_trampoline_start[], smpboot_trampoline_end[];

static _Alignas(16) unsigned char stacks[SMPBOOT_MAX_CPUS][STACK_BYTES];
static _Alignas(16) unsigned char idt[256 * 16];
static _Alignas(16) unsigned char gdts[SMPBOOT_MAX_CPUS][24]; /* one per CPU, built on it */
static atomic_uint cpu0_cycle_asked;  /* 1: CPU1, take CPU0 offline and back */
static atomic_uint cpu0_cycle_done;   /* 1 + smpboot_error of that cycle; 0: not yet */

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static void print(const char* s) { /* COM1 as QEMU gives it */
  for (; *s; ++s) outb(0x3F8, (uint8_t)*s);
}
static void print_u(uint64_t v) {
  char buf[21], *p = buf + sizeof buf - 1;
  *p = '\0';
  do { *--p = (char)('0' + v % 10); } while (v /= 10);
  print(p);
}
static _Noreturn void exit_qemu(bool pass) {
  print(pass ? "MINIMAL RESULT pass\n" : "MINIMAL RESULT fail\n");
  outb(0xF4, pass ? 0 : 1); /* isa-debug-exit */
  for (;;) __asm__ volatile("cli; hlt");
}

/* 16-byte interrupt gates on the boot GDT's code selector 0x08 (Intel SDM Vol. 3A 7.14.1);
 * the compiler writes the entry and IRET of interrupt-attribute handlers. */
struct iret_frame;
static void set_gate(uint8_t vector, uint64_t a) {
  uint64_t lo = (a & 0xFFFF) | (0x08ull << 16) | (0x8Eull << 40) | (((a >> 16) & 0xFFFF) << 48);
  uint64_t hi = a >> 32;
  __builtin_memcpy(idt + vector * 16, &lo, 8);
  __builtin_memcpy(idt + vector * 16 + 8, &hi, 8);
}
__attribute__((interrupt)) static void on_eoi_only(struct iret_frame* f) { (void)f; smpboot_eoi(); }
__attribute__((interrupt)) static void on_spurious(struct iret_frame* f) { (void)f; }
__attribute__((interrupt)) static void on_offline(struct iret_frame* f) {
  (void)f;
  smpboot_offline_self(); /* EOI, tell the controller, publish offline, park */
}

/* Each CPU builds its own GDT (a copy of the boot GDT, where a real kernel adds its TSS) on
 * itself, loads it with the IDT, and records both, so its record says what it runs on. Until
 * this runs an AP holds the trampoline's GDT in the SIPI page and no IDT. */
static void install_own_tables(smpboot_cpu* self) {
  struct smpboot_cpu_info me;
  smpboot_cpu_get_info(self, &me);
  unsigned char* gdt = gdts[me.index];
  __builtin_memcpy(gdt, boot_gdt, sizeof gdts[0]);
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr = {sizeof gdts[0] - 1, (uint64_t)gdt},
      idtr = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lgdt %0; pushq $0x08; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:\n\t"
                   "movw $0x10, %%ax; movw %%ax, %%ds; movw %%ax, %%es; movw %%ax, %%ss; lidt %1"
                   : : "m"(gdtr), "m"(idtr) : "rax", "memory");
  smpboot_cpu_set_tables(self, gdtr.base, gdtr.limit, idtr.base, idtr.limit);
}

static void finish(void);
static void serve_cpu0_cycle(void);

/* Offline, then online again; the controller is whichever CPU calls this. */
static smpboot_error cycle(smpboot_cpu* victim) {
  smpboot_error e = smpboot_take_offline(victim, OFFLINE_VECTOR, TIMEOUT_US);
  return e != SMPBOOT_OK ? e : smpboot_bring_online(victim, TIMEOUT_US);
}

/* Every CPU's life while online. CPU0 comes back here after its NMI wake and carries on. */
static void run(smpboot_cpu* self) {
  struct smpboot_cpu_info me;
  smpboot_cpu_get_info(self, &me);
  if (me.index == 0) finish();
  for (;;) { /* check with interrupts off, then `sti; hlt`: no wake-up lost in between */
    __asm__ volatile("cli" ::: "memory");
    if (me.index == 1 && atomic_exchange(&cpu0_cycle_asked, 0)) serve_cpu0_cycle();
    __asm__ volatile("sti; hlt" ::: "memory");
  }
}

static void serve_cpu0_cycle(void) {
  struct smpboot_cpu_info cpu0;
  smpboot_error e = cycle(smpboot_cpu_at(0));
  atomic_store(&cpu0_cycle_done, 1u + e);
  smpboot_cpu_get_info(smpboot_cpu_at(0), &cpu0);
  (void)smpboot_send_ipi(cpu0.apic_id, WAKE_VECTOR);
}

static bool cpu0_cycle_returned(void* unused) {
  (void)unused;
  return atomic_load(&cpu0_cycle_done) != 0;
}

/* ACPI: the RSDP in the BIOS area (ACPI 6.5 5.2.5.1), then the RSDT entry "APIC". */
static const unsigned char* find_madt(void) {
  for (uintptr_t p = 0xE0000; p < 0x100000; p += 16) {
    if (__builtin_memcmp((const void*)p, "RSD PTR ", 8) != 0) continue;
    uint32_t rsdt, length, entry;
    __builtin_memcpy(&rsdt, (const unsigned char*)p + 16, 4);
    __builtin_memcpy(&length, (const unsigned char*)(uintptr_t)rsdt + 4, 4);
    for (uint32_t off = 36; off + 4 <= length; off += 4) {
      __builtin_memcpy(&entry, (const unsigned char*)(uintptr_t)rsdt + off, 4);
      if (__builtin_memcmp((const void*)(uintptr_t)entry, "APIC", 4) == 0) {
        return (const unsigned char*)(uintptr_t)entry;
      }
    }
  }
  return 0;
}

static void finish(void) {
  uint32_t cpus = smpboot_cpu_count(), online = 0;
  /* CPU1 tells us when its wake of CPU0 has returned (with a wake IPI). */
  if (cpus > 1) (void)smpboot_wait_until(cpu0_cycle_returned, 0, TIMEOUT_US);
  uint32_t done = atomic_load(&cpu0_cycle_done);
  print("MINIMAL cpu0_cycle=");
  print(cpus < 2 ? "skipped" : done == 1 ? "ok" : smpboot_error_name((smpboot_error)(done ? done - 1 : 0)));
  for (uint32_t i = 0; i < cpus; ++i) {
    struct smpboot_cpu_info info;
    char line[160];
    smpboot_cpu_get_info(smpboot_cpu_at(i), &info);
    online += info.state == SMPBOOT_CPU_ONLINE;
    if (info.state != SMPBOOT_CPU_ONLINE) {
      smpboot_format_cpu(smpboot_cpu_at(i), line, sizeof line);
      print("\nMINIMAL not online: ");
      print(line);
    }
  }
  print("\nMINIMAL online=");
  print_u(online);
  print("\n");
  exit_qemu(online == cpus && (cpus < 2 || done == 1));
}

/* Built-in clock and waiter; the tables built on each CPU (the C++ minimal kernel shows the
 * other way: tables named in the record before the wake). */
static const struct smpboot_platform platform = {.install_cpu_state = install_own_tables, .run = run};

void kmain(void) {
  outb(0x21, 0xFF); /* mask the 8259 PICs: their vectors would overlap the CPU exceptions */
  outb(0xA1, 0xFF);
  set_gate(2, (uint64_t)smpboot_nmi_entry);
  set_gate(WAKE_VECTOR, (uint64_t)on_eoi_only);
  set_gate(TIMER_VECTOR, (uint64_t)on_eoi_only);
  set_gate(OFFLINE_VECTOR, (uint64_t)on_offline);
  set_gate(SPURIOUS_VECTOR, (uint64_t)on_spurious);
  const struct smpboot_config config = {
      .apic_mode = SMPBOOT_XAPIC, .xapic_virt = 0xFEE00000, .wake_vector = WAKE_VECTOR,
      .timer_vector = TIMER_VECTOR, .spurious_vector = SPURIOUS_VECTOR, .platform = &platform};
  smpboot_error e = smpboot_init(&config);
  if (e == SMPBOOT_OK) e = smpboot_calibrate_clock();
  const unsigned char* madt = find_madt();
  uint32_t madt_length = 0;
  if (madt) __builtin_memcpy(&madt_length, madt + 4, 4);
  if (e == SMPBOOT_OK) e = smpboot_add_cpus_from_madt(madt, madt_length, 0, 0);
  for (uint32_t i = 0; e == SMPBOOT_OK && i < smpboot_cpu_count(); ++i) {
    const struct smpboot_cpu_boot boot = {.stack_top = (uint64_t)(stacks[i] + STACK_BYTES)};
    e = smpboot_cpu_set_boot(smpboot_cpu_at(i), &boot);
  }
  if (e == SMPBOOT_OK) {
    smpboot_install_bsp_state(); /* the BSP runs on its record too */
    e = smpboot_install_trampoline((void*)(uintptr_t)SIPI_PAGE_PHYS, SIPI_PAGE_PHYS,
                                   smpboot_trampoline_start,
                                   (size_t)(smpboot_trampoline_end - smpboot_trampoline_start),
                                   (uint64_t)boot_pml4, 0);
  }
  if (e != SMPBOOT_OK) {
    print("MINIMAL setup failed: ");
    print(smpboot_error_name(e));
    print("\n");
    exit_qemu(false);
  }
  struct smpboot_bringup_report report;
  const struct smpboot_bringup_options options = {.mode = SMPBOOT_PARALLEL, .timeout_us = TIMEOUT_US};
  (void)smpboot_bring_up(&options, &report);
  print("MINIMAL cpus=");
  print_u(report.online);
  print("/");
  print_u(report.intended);
  print(" bringup_us=");
  print_u(report.end_us - report.start_us);
  print("\n");
  if (smpboot_cpu_count() < 2) finish();

  e = cycle(smpboot_cpu_at(smpboot_cpu_count() - 1));
  print("MINIMAL ap_cycle=");
  print(e == SMPBOOT_OK ? "ok" : smpboot_error_name(e));
  print("\n");
  /* CPU1 takes this CPU offline and wakes it by NMI; it comes back in run(). */
  atomic_store(&cpu0_cycle_asked, 1);
  struct smpboot_cpu_info cpu1;
  smpboot_cpu_get_info(smpboot_cpu_at(1), &cpu1);
  (void)smpboot_send_ipi(cpu1.apic_id, WAKE_VECTOR);
  for (;;) __asm__ volatile("sti; hlt" ::: "memory"); /* the offline IPI arrives here */
}

/* The compiler may call these, as in every freestanding program. */
void* memcpy(void* d, const void* s, size_t n) {
  void* r = d;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return r;
}
void* memset(void* d, int v, size_t n) {
  void* r = d;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(v) : "memory");
  return r;
}
int memcmp(const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    int d = ((const unsigned char*)a)[i] - ((const unsigned char*)b)[i];
    if (d) return d;
  }
  return 0;
}
