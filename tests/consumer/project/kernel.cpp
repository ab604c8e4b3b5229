// Everything a kernel's SMP bringup instantiates from smpboot, with the native providers:
// both APIC policies, the MADT walker, the CPU table, the library's trampoline (embedded by
// trampoline_blob.asm) installed in its SIPI page, the BSP protocol and the AP entry, hotplug,
// and the library's NMI entry and park loop (nmi_entry.o) with the dispatch a kernel defines. It is
// linked, never run: with no C++ runtime in the link, any hidden need for one (__cxa_*,
// operator new, unwinding, libgcc helpers, static constructors) is left undefined or visible.
#include <smpboot/smpboot.hpp>
#include <smpboot/arch/x86_64/native.hpp>

using namespace smpboot;

// The trampoline smpboot built, as trampoline_blob.asm embeds it.
extern "C" const uint8_t smpboot_trampoline_start[];
extern "C" const uint8_t smpboot_trampoline_end[];

namespace {

constexpr uint32_t kMaxCpus = 64;
constexpr uint32_t kStackBytes = 4096;
constexpr uint64_t kTrampolinePhys = 0x8000;  // SIPI vector 0x08
constexpr uint64_t kPml4Phys = 0x1000;        // the boot code's page tables (assumed)

constinit CpuTable<kMaxCpus> cpus;
alignas(16) constinit uint8_t stacks[kMaxCpus][kStackBytes];
constinit volatile uint32_t cpus_online = 0;

// A MADT as firmware lays it out (ACPI 6.5, 5.2.12): the header, four enabled Local APIC
// entries (APIC IDs 0-3) and one Local x2APIC entry (APIC ID 0x100, which xAPIC mode cannot
// address), with a valid checksum, so Madt::parse's checks all run.
struct MadtImage {
  static constexpr uint32_t kXApicCpus = 4;
  static constexpr uint32_t kLength =
      madt::kMadtFixedLength + kXApicCpus * madt::kLocalApicLength + madt::kLocalX2ApicLength;
  uint8_t bytes[kLength];
};

constexpr void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

constexpr MadtImage make_madt() {
  MadtImage m{};
  uint8_t* b = m.bytes;
  b[0] = 'A', b[1] = 'P', b[2] = 'I', b[3] = 'C';
  put32(b + madt::kOffsetLength, MadtImage::kLength);
  b[madt::kOffsetRevision] = 5;
  put32(b + madt::kOffsetLocalApicAddress, 0xFEE0'0000);
  put32(b + madt::kOffsetFlags, 1);  // PCAT_COMPAT
  uint32_t at = madt::kMadtFixedLength;
  for (uint8_t id = 0; id < MadtImage::kXApicCpus; ++id, at += madt::kLocalApicLength) {
    b[at] = uint8_t(madt::SubtableType::kLocalApic);
    b[at + 1] = madt::kLocalApicLength;
    b[at + 2] = id;  // ACPI processor UID
    b[at + 3] = id;  // APIC ID
    put32(b + at + 4, madt::kFlagEnabled);
  }
  b[at] = uint8_t(madt::SubtableType::kLocalX2Apic);
  b[at + 1] = madt::kLocalX2ApicLength;
  put32(b + at + 4, 0x100);  // x2APIC ID
  put32(b + at + 8, madt::kFlagEnabled);
  put32(b + at + 12, 0x100);  // ACPI processor UID
  uint8_t sum = 0;
  for (uint8_t byte : m.bytes) sum = uint8_t(sum + byte);
  b[9] = uint8_t(-sum);  // the header checksum byte: all bytes sum to 0
  return m;
}

constexpr MadtImage kMadt = make_madt();

// A kernel's own Clock and Waiter, the smallest that satisfy the concepts. The TSC rate is
// assumed (1 GHz) where a real kernel calibrates it (see time/tsc_clock.hpp).
struct AssumedTscClock {
  x86_64::NativeCpu cpu;
  uint64_t now_us() noexcept { return cpu.read_tsc() / 1000; }
  void delay_us(uint64_t us) noexcept {
    const uint64_t end = now_us() + us;
    while (now_us() < end) cpu.pause();
  }
};
static_assert(Clock<AssumedTscClock>);

// It returns at once (a pause), so it always meets its deadline.
struct PauseWaiter : x86_64::NativeCpuHalt {  // its interrupt window: CLI, then STI if IF was set
  void wait(const WaitDeadline&) noexcept { x86_64::NativeCpu{}.pause(); }
};
static_assert(Waiter<PauseWaiter>);

// What ap_entry needs from the kernel: the record's GDT, GS/FS bases and IDT, and an online AP
// sleeps; an offline one waits in the library's park loop.
struct ConsumerAp {
  static void install_cpu_state(CpuRecord& r) noexcept { x86_64::install_record_state(r); }
  static uint64_t now_us() noexcept { return AssumedTscClock{}.now_us(); }
  static bool cpu_setup(CpuRecord&) noexcept { return true; }
  static void announce_online(CpuRecord&) noexcept {}
  static void run(CpuRecord&) noexcept {
    for (;;) x86_64::NativeCpu{}.enable_interrupts_and_halt();
  }
  static void park(CpuRecord&) noexcept { x86_64::park(); }
};
static_assert(ApPlatform<ConsumerAp>);

// Steps 1 and 3-5 of bringup.hpp for one APIC policy; returns how many CPUs are online.
template <LocalApic Apic>
uint32_t start_cpus(Apic& apic, x86_64::NativeMsr& msr, bool firmware_bsp, BringupMode mode) {
  auto madt = Madt::parse(kMadt.bytes, sizeof kMadt.bytes);
  if (!madt) return 1;
  const MadtCpuCensus census = add_cpus_from_madt(cpus, *madt, apic.id());
  for (CpuRecord& cpu : cpus) {
    cpu.stack_top = reinterpret_cast<uint64_t>(stacks[cpu.index] + kStackBytes);
    cpu.entry = reinterpret_cast<uint64_t>(&ap_entry<ConsumerAp>);
  }
  // The SIPI page is assumed identity-mapped, as in the example kernel.
  const auto page = install_trampoline(
      reinterpret_cast<void*>(kTrampolinePhys), kTrampolinePhys, smpboot_trampoline_start,
      size_t(smpboot_trampoline_end - smpboot_trampoline_start),
      trampoline_setup_like_bsp(msr, kPml4Phys), cpus);
  AssumedTscClock clock;
  PauseWaiter waiter;
  if (!page || !mark_bsp_online(cpus[0], clock.now_us(), firmware_bsp)) return 1;
  const BringupReport report =
      bring_up_aps(cpus, apic, clock, waiter, *page,
                   {.mode = mode, .delays = kModernDelays,
                    .broadcast_safe = broadcast_is_safe(census)});
  return report.online;
}

// Hotplug from a controller: CPU0 goes offline and comes back by NMI through nmi_entry.o.
template <LocalApic Apic>
bool cycle(CpuRecord& victim, Apic& apic, StartPage page) {
  AssumedTscClock clock;
  PauseWaiter waiter;
  if (!begin_offline(victim, apic)) return false;
  if (!wait_offline(victim, clock, waiter, 1000)) return false;
  return bring_online(victim, apic, clock, waiter, page, kModernDelays, 1000).ok();
}

// The NMI gate's target, as an IDT would hold it.
constinit volatile uint64_t nmi_gate_target = 0;

}  // namespace

// Called by smpboot_nmi_entry (nmi_entry.o): a pending wake of this CPU's own record becomes
// the record entry; any other NMI is the kernel's (none here).
extern "C" void smpboot_nmi_dispatch(NmiFrame* frame) {
  X2Apic<x86_64::NativeMsr> apic{x86_64::NativeMsr{}};
  (void)take_nmi_wake(cpus, apic.id(), *frame);
}

// The ELF entry point (-e consumer_main). The APIC mode is decided once, here, and each
// branch instantiates the whole protocol for its policy.
extern "C" [[noreturn]] void consumer_main() {
  nmi_gate_target = reinterpret_cast<uint64_t>(smpboot_nmi_entry);
  x86_64::NativeMsr msr;
  const ApicBase base = read_apic_base(msr);
  if (base.x2apic()) {
    X2Apic<x86_64::NativeMsr> apic(msr);
    cpus_online = start_cpus(apic, msr, base.is_bsp(), BringupMode::kParallel);
    if (cycle(cpus[0], apic, StartPage::from_phys(kTrampolinePhys).value())) cpus_online = 0;
  } else {
    // The APIC page is assumed identity-mapped, as in the example kernel.
    XApic<x86_64::NativeMmio> apic(x86_64::NativeMmio(uintptr_t(base.base_phys())));
    cpus_online = start_cpus(apic, msr, base.is_bsp(), BringupMode::kSerial);
  }
  ConsumerAp::park(cpus[0]);
  __builtin_unreachable();
}
