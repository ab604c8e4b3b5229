// The smallest complete smpboot kernel (C++), the porting guide's worked example: it brings
// every CPU up in parallel, takes an AP offline and back, then has that AP take CPU0 offline
// and wake it again by NMI, prints what happened and exits QEMU through isa-debug-exit.
// Everything CPU-related comes from the library: the trampoline (incbin'd in boot.asm), the
// NMI entry and park loop (nmi_entry.o), the clock calibration and the waiter.
// xAPIC only, for brevity; examples/kernel shows x2APIC, serial/broadcast and the torture.
#include <smpboot/smpboot.hpp>
#include <smpboot/arch/x86_64/descriptors.hpp>
#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/boot/nmi_entry.hpp>
#include <smpboot/time/calibration.hpp>

using namespace smpboot;
using Apic = XApic<x86_64::NativeMmio>;

namespace {

constexpr uint8_t kWakeVector = 0xF0;     // "look at the records again": EOI only
constexpr uint8_t kOfflineVector = 0xF1;  // "go offline"
constexpr uint8_t kTimerVector = 0xF2;    // the waiter's one-shot APIC timer
constexpr uint8_t kSpuriousVector = 0xFF;
constexpr uint64_t kSipiPagePhys = 0x8000;  // free below 1 MiB on SeaBIOS and Bochs BIOS
constexpr uint64_t kTimeoutUs = 2'000'000;
constexpr uint32_t kStackBytes = 16 * 1024;

constinit CpuTable<256> g_cpus;  // zero-initialized: lands in .bss
alignas(16) uint8_t g_stacks[256][kStackBytes];
alignas(16) uint8_t g_idt[256 * 16];
constinit StartPage g_start_page{};
constinit uint64_t g_tsc_hz = 0;
constinit uint64_t g_apic_timer_hz = 0;
constinit Atomic<uint32_t> g_cpu0_cycle_asked{0};   // 1: CPU1, take CPU0 offline and back
constinit Atomic<uint32_t> g_cpu0_cycle_done{0};    // 1 + Error of that cycle, 0 = not yet

// The xAPIC page is at the same address on every CPU and each CPU reaches its own, so one
// stateless policy object serves them all.
constinit Apic g_apic{x86_64::NativeMmio(0xFEE0'0000)};
Apic& apic() { return g_apic; }
auto clock() { return TscClock(x86_64::NativeCpu{}, g_tsc_hz); }
auto waiter() { return ApicTimerWaiter(g_apic, x86_64::NativeCpuHalt{}, g_apic_timer_hz, kTimerVector); }
// Each CPU's GS base is its own record (prepare_records), so a CPU finds itself in one read.
CpuRecord& self() { return *reinterpret_cast<CpuRecord*>(x86_64::read_gs_base()); }

// COM1 as QEMU and Bochs give it (a real UART wants its baud rate set first).
void print(const char* s) {
  for (; *s; ++s) x86_64::NativePortIo{}.out8(0x3F8, uint8_t(*s));
}
void print(uint64_t v) {
  char buf[21];
  char* p = buf + sizeof buf - 1;
  *p = '\0';
  do { *--p = char('0' + v % 10); } while (v /= 10);
  print(p);
}
[[noreturn]] void exit_qemu(bool pass) {
  print(pass ? "MINIMAL RESULT pass\n" : "MINIMAL RESULT fail\n");
  x86_64::NativePortIo{}.out8(0xF4, pass ? 0 : 1);  // isa-debug-exit: QEMU exits 1 or 3
  for (;;) asm volatile("cli; hlt");
}

// --- interrupts: one 16-byte gate per vector (SDM Vol. 3A 7.14.1), all on the boot GDT's
// code selector 0x08. The compiler writes the entry and IRET of [[gnu::interrupt]] handlers.
struct IretFrame;
void set_gate(uint8_t vector, const void* handler) {
  const uint64_t a = reinterpret_cast<uint64_t>(handler);
  const uint64_t lo = (a & 0xFFFF) | (0x08ull << 16) | (0x8Eull << 40) | ((a >> 16 & 0xFFFF) << 48);
  __builtin_memcpy(g_idt + vector * 16, &lo, 8);
  const uint64_t hi = a >> 32;
  __builtin_memcpy(g_idt + vector * 16 + 8, &hi, 8);
}
[[gnu::interrupt]] void on_eoi_only(IretFrame*) { apic().eoi(); }
[[gnu::interrupt]] void on_spurious(IretFrame*) {}  // no EOI for a spurious vector (11.9)
// The victim's side of offline: tell the controller first, publish offline last, park. Once
// `offline` is visible any CPU may wake this one again, so nothing may follow but the park.
[[gnu::interrupt]] void on_offline(IretFrame*) {
  CpuRecord& me = self();
  apic().eoi();
  (void)apic().send(IpiCommand::fixed(ApicId{me.controller().value}, kWakeVector));
  (void)complete_offline(me);
  x86_64::park();  // APs: INIT/SIPI restarts them; CPU0: the NMI below
}
}  // namespace

// The library's NMI entry (nmi_entry.o) saves the registers and calls this. A pending wake of
// this CPU's own record turns the NMI's IRET into a jump to ap_entry on that record.
extern "C" void smpboot_nmi_dispatch(NmiFrame* frame) {
  (void)take_nmi_wake(g_cpus, apic().id(), *frame);
}
extern "C" char smpboot_nmi_entry[];

namespace {
void finish();
void serve_cpu0_cycle();

// What smpboot::ap_entry calls on every woken CPU (APs, and CPU0 after its NMI wake).
struct MinimalAp {
  static void install_cpu_state(CpuRecord& r) noexcept { x86_64::install_record_state(r); }
  static uint64_t now_us() noexcept { return clock().now_us(); }
  // Runs on all APs at once in parallel mode: nothing here may need a lock.
  static bool cpu_setup(CpuRecord&) noexcept {
    apic().software_enable(kSpuriousVector);
    return true;
  }
  static void announce_online(CpuRecord& r) noexcept {
    (void)apic().send(IpiCommand::fixed(ApicId{r.controller().value}, kWakeVector));
  }
  // CPU0 comes back here after its NMI wake, not where it went offline: it carries on.
  static void run(CpuRecord& r) noexcept {
    if (r.index == 0) finish();
    for (;;) {  // idle; check, then sleep with interrupts enabled in the same instruction pair
      asm volatile("cli" ::: "memory");
      if (r.index == 1 && g_cpu0_cycle_asked.exchange(0, MemoryOrder::kAcqRel)) serve_cpu0_cycle();
      asm volatile("sti; hlt" ::: "memory");
    }
  }
  static void park(CpuRecord&) noexcept { x86_64::park(); }
};

// Offline, then online again; the controller is whichever CPU calls this.
Status cycle(CpuRecord& victim) {
  auto c = clock();
  auto w = waiter();
  auto a = apic();
  if (Status s = begin_offline(victim, a); !s) return s;  // records us as its controller
  (void)a.send(IpiCommand::fixed(victim.apic(), kOfflineVector));
  if (Status s = wait_offline(victim, c, w, kTimeoutUs); !s) return s;
  return bring_online(victim, a, c, w, g_start_page, kModernDelays, kTimeoutUs);
}

void serve_cpu0_cycle() {
  asm volatile("sti" ::: "memory");  // the waits sleep until the timer or a wake IPI
  const Status s = cycle(g_cpus[0]);
  g_cpu0_cycle_done.store(1 + uint32_t(s ? Error::kNone : s.error()), MemoryOrder::kRelease);
  (void)apic().send(IpiCommand::fixed(g_cpus[0].apic(), kWakeVector));
}

// ACPI: RSDP in the BIOS area (ACPI 6.5 5.2.5.1), then the RSDT/XSDT entry "APIC".
const uint8_t* find_madt() {
  const uint8_t* rsdp = nullptr;
  for (uintptr_t p = 0xE0000; p < 0x100000 && !rsdp; p += 16) {
    if (__builtin_memcmp(reinterpret_cast<const void*>(p), "RSD PTR ", 8) == 0) {
      rsdp = reinterpret_cast<const uint8_t*>(p);
    }
  }
  if (!rsdp) return nullptr;
  uint32_t rsdt = 0;
  __builtin_memcpy(&rsdt, rsdp + 16, 4);
  const auto* table = reinterpret_cast<const uint8_t*>(uintptr_t(rsdt));
  uint32_t length = 0;
  __builtin_memcpy(&length, table + 4, 4);
  for (uint32_t off = 36; off + 4 <= length; off += 4) {
    uint32_t entry = 0;
    __builtin_memcpy(&entry, table + off, 4);
    const auto* t = reinterpret_cast<const uint8_t*>(uintptr_t(entry));
    if (__builtin_memcmp(t, "APIC", 4) == 0) return t;
  }
  return nullptr;
}

void finish() {
  auto c = clock();
  auto w = waiter();
  if (g_cpus.size() > 1) {  // CPU1 tells us when its wake of CPU0 has returned
    (void)wait_until(c, w, kTimeoutUs, [] { return g_cpu0_cycle_done.load(MemoryOrder::kAcquire) != 0; });
  }
  const uint32_t done = g_cpu0_cycle_done.load(MemoryOrder::kAcquire);
  print("MINIMAL cpu0_cycle=");
  print(g_cpus.size() < 2 ? "skipped" : done == 1 ? "ok" : error_name(Error(done ? done - 1 : 0)));
  uint32_t online = 0;
  for (const CpuRecord& r : g_cpus) online += r.load_state() == CpuState::kOnline;
  print("\nMINIMAL online=");
  print(online);
  print("\n");
  exit_qemu(online == g_cpus.size() && (g_cpus.size() < 2 || done == 1));
}
}  // namespace

extern "C" void kmain() {
  extern uint8_t boot_gdt[], boot_gdt_end[], boot_pml4[];
  extern const uint8_t smpboot_trampoline_start[], smpboot_trampoline_end[];
  x86_64::NativePortIo io;
  io.out8(0x21, 0xFF);  // mask the 8259 PICs: their vectors would overlap the CPU exceptions
  io.out8(0xA1, 0xFF);
  set_gate(2, smpboot_nmi_entry);
  set_gate(kWakeVector, reinterpret_cast<const void*>(&on_eoi_only));
  set_gate(kTimerVector, reinterpret_cast<const void*>(&on_eoi_only));
  set_gate(kOfflineVector, reinterpret_cast<const void*>(&on_offline));
  set_gate(kSpuriousVector, reinterpret_cast<const void*>(&on_spurious));
  apic().software_enable(kSpuriousVector);

  x86_64::NativeCpu cpu;  // the TSC against PIT channel 2, then the APIC timer against the TSC
  auto tsc_hz = calibrate_tsc_with_pit(io, cpu);
  auto timer_hz = tsc_hz ? measure_apic_timer_hz(apic(), cpu, *tsc_hz, kTimerVector) : tsc_hz;
  if (!timer_hz) { print("MINIMAL no clock: "); print(error_name(timer_hz.error())); exit_qemu(false); }
  g_tsc_hz = *tsc_hz;
  g_apic_timer_hz = *timer_hz;

  const uint8_t* madt_bytes = find_madt();
  uint32_t madt_length = 0;
  if (madt_bytes) __builtin_memcpy(&madt_length, madt_bytes + 4, 4);
  auto madt = Madt::parse(madt_bytes, madt_length);
  if (!madt) { print("MINIMAL no MADT\n"); exit_qemu(false); }
  (void)add_cpus_from_madt(g_cpus, *madt, apic().id());
  for (CpuRecord& r : g_cpus) {  // one boot record per CPU, used by every wake path
    r.stack_top = reinterpret_cast<uint64_t>(g_stacks[r.index] + kStackBytes);
    r.gs_base = reinterpret_cast<uint64_t>(&r);
    r.gdt_base = reinterpret_cast<uint64_t>(boot_gdt);
    r.gdt_limit = uint16_t(boot_gdt_end - boot_gdt - 1);
    r.idt_base = reinterpret_cast<uint64_t>(g_idt);
    r.idt_limit = sizeof g_idt - 1;
    r.entry = reinterpret_cast<uint64_t>(&ap_entry<MinimalAp>);
  }
  x86_64::install_record_state(g_cpus[0]);  // the BSP runs on its record too

  x86_64::NativeMsr msr;
  TrampolineSetup setup = trampoline_setup_like_bsp(msr, reinterpret_cast<uint64_t>(boot_pml4));
  auto page = install_trampoline(reinterpret_cast<void*>(kSipiPagePhys), kSipiPagePhys,
                                 smpboot_trampoline_start,
                                 size_t(smpboot_trampoline_end - smpboot_trampoline_start), setup, g_cpus);
  if (!page) { print("MINIMAL trampoline: "); print(error_name(page.error())); exit_qemu(false); }
  g_start_page = *page;

  auto c = clock();
  auto w = waiter();
  auto a = apic();
  (void)mark_bsp_online(g_cpus[0], c.now_us(), read_apic_base(msr).is_bsp());
  asm volatile("sti" ::: "memory");  // the waiter sleeps until the timer or a wake IPI
  const BringupReport report = bring_up_aps(g_cpus, a, c, w, g_start_page,
                                            {.mode = BringupMode::kParallel, .timeout_us = kTimeoutUs});
  print("MINIMAL cpus=");
  print(report.online);
  print("/");
  print(report.intended);
  print(" bringup_us=");
  print(report.end_us - report.start_us);
  print("\n");
  if (g_cpus.size() < 2) finish();

  const Status ap = cycle(g_cpus[g_cpus.size() - 1]);
  print("MINIMAL ap_cycle=");
  print(ap ? "ok" : error_name(ap.error()));
  print("\n");
  // CPU1 takes this CPU offline and wakes it by NMI; it comes back in MinimalAp::run.
  g_cpu0_cycle_asked.store(1, MemoryOrder::kRelease);
  (void)a.send(IpiCommand::fixed(g_cpus[1].apic(), kWakeVector));
  for (;;) asm volatile("sti; hlt" ::: "memory");  // the offline IPI arrives here
}

// The compiler may call these, as in every freestanding program.
extern "C" void* memcpy(void* d, const void* s, size_t n) {
  void* r = d;
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return r;
}
extern "C" void* memset(void* d, int v, size_t n) {
  void* r = d;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(v) : "memory");
  return r;
}
extern "C" int memcmp(const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const int d = static_cast<const uint8_t*>(a)[i] - static_cast<const uint8_t*>(b)[i];
    if (d) return d;
  }
  return 0;
}
