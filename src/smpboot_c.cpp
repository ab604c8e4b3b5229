// The C API (include/smpboot/smpboot.h) over the header-only core. One translation unit,
// freestanding like the headers: no heap, no exceptions, no static constructors (every global
// is constinit). The APIC mode is chosen once, in smpboot_init, and every call branches on it
// at the top into the mode's policy type (STYLE.md: "a kernel that decides at run time
// instantiates both and branches once").
#include "smpboot/smpboot.h"

#include <smpboot/smpboot.hpp>
#include <smpboot/arch/x86_64/descriptors.hpp>
#include <smpboot/arch/x86_64/native.hpp>
#include <smpboot/boot/nmi_entry.hpp>
#include <smpboot/time/calibration.hpp>

struct smpboot_cpu : smpboot::CpuRecord {};  // the handle is the record itself
struct smpboot_nmi_frame : smpboot::NmiFrame {};

namespace {

using namespace smpboot;

static_assert(sizeof(smpboot_cpu) == sizeof(CpuRecord));
static_assert(SMPBOOT_CPU_FAILED == uint32_t(CpuState::kFailed) &&
              SMPBOOT_CPU_GOING_DOWN == uint32_t(CpuState::kGoingDown) &&
              SMPBOOT_CPU_ONLINE == uint32_t(CpuState::kOnline) &&
              SMPBOOT_CPU_WAKE_SENT == uint32_t(CpuState::kWakeSent));
static_assert(SMPBOOT_STAGE_ONLINE == uint32_t(BootStage::kOnline) &&
              SMPBOOT_STAGE_PROTECTED == uint32_t(BootStage::kProtected));
static_assert(SMPBOOT_OK == smpboot_error(Error::kNone));

constinit CpuTable<SMPBOOT_MAX_CPUS> g_cpus;
constinit smpboot_config g_config{};
constinit smpboot_platform g_platform{};
constinit StartPage g_start_page{};
constinit bool g_initialized = false;
constinit bool g_trampoline_installed = false;
constinit uint64_t g_tsc_hz = 0;
constinit uint64_t g_apic_timer_hz = 0;

smpboot_cpu* handle(CpuRecord& r) { return static_cast<smpboot_cpu*>(&r); }
CpuRecord& record(smpboot_cpu* c) { return *c; }
const CpuRecord& record(const smpboot_cpu* c) { return *c; }
smpboot_error code(Error e) { return smpboot_error(e); }
smpboot_error code(const Status& s) { return s ? SMPBOOT_OK : code(s.error()); }

// The mode's policy, handed to f: the one branch on the APIC mode.
template <class F>
decltype(auto) with_apic(F&& f) {
  if (g_config.apic_mode == SMPBOOT_X2APIC) {
    X2Apic<x86_64::NativeMsr> apic{x86_64::NativeMsr{}};
    return f(apic);
  }
  XApic<x86_64::NativeMmio> apic{x86_64::NativeMmio(uintptr_t(g_config.xapic_virt))};
  return f(apic);
}

// The kernel's clock and waiter, or the built-in TSC clock and APIC-timer waiter.
struct CClock {
  uint64_t now_us() noexcept {
    return g_platform.now_us ? g_platform.now_us() : TscClock(x86_64::NativeCpu{}, g_tsc_hz).now_us();
  }
  void delay_us(uint64_t us) noexcept {
    if (g_platform.delay_us) return g_platform.delay_us(us);
    TscClock(x86_64::NativeCpu{}, g_tsc_hz).delay_us(us);
  }
};
// Its interrupt window (wait_until masks interrupts around its checks) is NativeCpuHalt's.
struct CWaiter : x86_64::NativeCpuHalt {
  void wait(const WaitDeadline& d) noexcept {
    if (g_platform.wait) return g_platform.wait(d.remaining_us);
    with_apic([&](auto& apic) {
      ApicTimerWaiter(apic, x86_64::NativeCpuHalt{}, g_apic_timer_hz, g_config.timer_vector).wait(d);
    });
  }
};

// What ap_entry calls on the woken CPU: the kernel's callbacks, with the library's defaults.
struct CApPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    if (g_platform.install_cpu_state) return g_platform.install_cpu_state(handle(r));
    x86_64::install_record_state(r);
  }
  static uint64_t now_us() noexcept { return CClock{}.now_us(); }
  static bool cpu_setup(CpuRecord& r) noexcept {
    with_apic([](auto& apic) { apic.software_enable(g_config.spurious_vector); });
    return g_platform.cpu_setup ? g_platform.cpu_setup(handle(r)) : true;
  }
  static void announce_online(CpuRecord& r) noexcept {
    with_apic([&](auto& apic) {
      (void)apic.send(IpiCommand::fixed(r.controller(), g_config.wake_vector));
    });
  }
  static void run(CpuRecord& r) noexcept { g_platform.run(handle(r)); }
  static void park(CpuRecord&) noexcept { x86_64::park(); }
};

constexpr WakeDelays delays_of(smpboot_delays d) {
  return d == SMPBOOT_DELAYS_SPEC ? kSpecDelays : kModernDelays;
}

}  // namespace

extern "C" {

smpboot_error smpboot_init(const smpboot_config* config) {
  if (config == nullptr || config->platform == nullptr || config->platform->run == nullptr) {
    return code(Error::kInvalidArgument);
  }
  const bool own_clock = config->platform->now_us && config->platform->delay_us && config->platform->wait;
  const bool builtin_clock = !config->platform->now_us && !config->platform->delay_us && !config->platform->wait;
  if (!own_clock && !builtin_clock) return code(Error::kInvalidArgument);
  if (config->apic_mode == SMPBOOT_XAPIC && config->xapic_virt == 0) return code(Error::kInvalidArgument);
  g_config = *config;
  g_platform = *config->platform;
  g_config.platform = &g_platform;
  x86_64::NativeMsr msr;
  const bool x2apic = read_apic_base(msr).x2apic();
  if (x2apic != (config->apic_mode == SMPBOOT_X2APIC)) return code(Error::kApicModeMismatch);
  with_apic([](auto& apic) { apic.software_enable(g_config.spurious_vector); });
  g_initialized = true;
  return SMPBOOT_OK;
}

smpboot_error smpboot_calibrate_clock(void) {
  x86_64::NativePortIo io;
  x86_64::NativeCpu cpu;
  auto tsc_hz = calibrate_tsc_with_pit(io, cpu);
  if (!tsc_hz) return code(tsc_hz.error());
  g_tsc_hz = *tsc_hz;
  auto timer_hz = with_apic([&](auto& apic) {
    return measure_apic_timer_hz(apic, cpu, g_tsc_hz, g_config.timer_vector);
  });
  if (!timer_hz) return code(timer_hz.error());
  g_apic_timer_hz = *timer_hz;
  return SMPBOOT_OK;
}

uint64_t smpboot_now_us(void) { return CClock{}.now_us(); }
uint64_t smpboot_tsc_hz(void) { return g_tsc_hz; }

bool smpboot_wait_until(bool (*done)(void* arg), void* arg, uint64_t timeout_us) {
  if (done == nullptr) return false;
  CClock clock;
  CWaiter waiter;
  return wait_until(clock, waiter, timeout_us, [&] { return done(arg); });
}

smpboot_error smpboot_add_cpus_from_madt(const void* madt_bytes, size_t length, uint32_t max_cpus,
                                         smpboot_census* out) {
  if (!g_initialized) return code(Error::kCalledOutOfOrder);
  auto madt = Madt::parse(madt_bytes, length);
  if (!madt) return code(madt.error());
  const uint32_t own_id = with_apic([](auto& apic) { return apic.id().value; });
  const MadtCpuCensus census = add_cpus_from_madt(g_cpus, *madt, ApicId{own_id},
                                                  max_cpus ? max_cpus : SMPBOOT_MAX_CPUS);
  for (CpuRecord& r : g_cpus) r.entry = reinterpret_cast<uint64_t>(&ap_entry<CApPlatform>);
  if (out != nullptr) {
    *out = smpboot_census{census.enabled, census.added, census.online_capable, census.disabled,
                          census.duplicates, census.not_added, census.xapic_unaddressable,
                          broadcast_is_safe(census), code(census.walk_error)};
  }
  return g_cpus.size() == 0 ? code(Error::kInvalidArgument) : SMPBOOT_OK;
}

uint32_t smpboot_cpu_count(void) { return g_cpus.size(); }
smpboot_cpu* smpboot_cpu_at(uint32_t index) {
  return index < g_cpus.size() ? handle(g_cpus[index]) : nullptr;
}
smpboot_cpu* smpboot_cpu_by_apic_id(uint32_t apic_id) {
  CpuRecord* r = g_cpus.find_record(ApicId{apic_id});
  return r ? handle(*r) : nullptr;
}
smpboot_cpu* smpboot_self(void) { return smpboot_cpu_by_apic_id(smpboot_apic_id()); }

smpboot_error smpboot_cpu_set_boot(smpboot_cpu* cpu, const smpboot_cpu_boot* boot) {
  if (cpu == nullptr || boot == nullptr || boot->stack_top == 0 || (boot->stack_top & 15) != 0) {
    return code(Error::kInvalidArgument);
  }
  CpuRecord& r = record(cpu);
  r.stack_top = boot->stack_top;
  r.gs_base = boot->gs_base;
  r.fs_base = boot->fs_base;
  r.gdt_base = boot->gdt_base;
  r.gdt_limit = boot->gdt_base ? boot->gdt_limit : 0;
  r.idt_base = boot->idt_base;
  r.idt_limit = boot->idt_base ? boot->idt_limit : 0;
  r.kernel_data = reinterpret_cast<uint64_t>(boot->kernel_data);
  r.entry = reinterpret_cast<uint64_t>(&ap_entry<CApPlatform>);
  return SMPBOOT_OK;
}

void smpboot_cpu_set_tables(smpboot_cpu* cpu, uint64_t gdt_base, uint16_t gdt_limit,
                            uint64_t idt_base, uint16_t idt_limit) {
  if (cpu == nullptr) return;
  CpuRecord& r = record(cpu);
  r.gdt_base = gdt_base;
  r.gdt_limit = gdt_base ? gdt_limit : 0;
  r.idt_base = idt_base;
  r.idt_limit = idt_base ? idt_limit : 0;
}

void smpboot_install_record_state(const smpboot_cpu* cpu) {
  if (cpu != nullptr) x86_64::install_record_state(record(cpu));
}

void* smpboot_cpu_kernel_data(const smpboot_cpu* cpu) {
  return cpu ? reinterpret_cast<void*>(record(cpu).kernel_data) : nullptr;
}

void smpboot_cpu_get_info(const smpboot_cpu* cpu, smpboot_cpu_info* info) {
  if (cpu == nullptr || info == nullptr) return;
  const CpuRecord& r = record(cpu);
  *info = smpboot_cpu_info{r.index, r.apic_id, r.controller_apic_id, r.wake_count, r.esr,
                           smpboot_cpu_state(r.load_state()), smpboot_boot_stage(r.load_stage()),
                           code(r.error), r.wake_sent_us, r.alive_us, r.online_us,
                           r.is_firmware_bsp(), r.acpi_uid, r.madt_type, r.madt_flags};
}

void smpboot_install_bsp_state(void) {
  if (g_cpus.size() == 0) return;
  CApPlatform::install_cpu_state(g_cpus[0]);
}

smpboot_error smpboot_install_trampoline(void* page, uint64_t page_phys, const void* blob,
                                         size_t size, uint64_t cr3, uint64_t table_phys) {
  x86_64::NativeMsr msr;
  TrampolineSetup setup = trampoline_setup_like_bsp(msr, cr3);
  setup.table_phys = table_phys;
  auto start = install_trampoline(page, page_phys, static_cast<const uint8_t*>(blob), size, setup,
                                  g_cpus);
  if (!start) return code(start.error());
  g_start_page = *start;
  g_trampoline_installed = true;
  return SMPBOOT_OK;
}

const void* smpboot_table_address(void) { return &g_cpus; }

smpboot_error smpboot_bring_up(const smpboot_bringup_options* options,
                               smpboot_bringup_report* out) {
  if (!g_initialized || !g_trampoline_installed || g_cpus.size() == 0) {
    return code(Error::kCalledOutOfOrder);
  }
  CClock clock;
  CWaiter waiter;
  x86_64::NativeMsr msr;
  if (g_cpus[0].load_state() == CpuState::kOffline) {
    if (Status s = mark_bsp_online(g_cpus[0], clock.now_us(), read_apic_base(msr).is_bsp()); !s) {
      return code(s);
    }
  }
  const smpboot_bringup_options defaults{SMPBOOT_PARALLEL, SMPBOOT_DELAYS_MODERN, 0};
  const smpboot_bringup_options& o = options ? *options : defaults;
  // The census decides broadcast safety: recompute it cheaply from the table is not possible,
  // so broadcast is allowed only when the kernel asked for it after reading the census.
  const BringupOptions opts{.mode = BringupMode(o.mode), .delays = delays_of(o.delays),
                            .timeout_us = o.timeout_us ? o.timeout_us : 2'000'000,
                            .broadcast_safe = o.mode == SMPBOOT_BROADCAST};
  const BringupReport report = with_apic([&](auto& apic) {
    return bring_up_aps(g_cpus, apic, clock, waiter, g_start_page, opts);
  });
  if (out != nullptr) {
    *out = smpboot_bringup_report{report.intended, report.online, report.failed, report.start_us,
                                  report.end_us, code(report.error), report.esr};
  }
  return code(report.error);
}

smpboot_error smpboot_take_offline(smpboot_cpu* victim, uint8_t offline_vector, uint64_t timeout_us) {
  if (victim == nullptr) return code(Error::kInvalidArgument);
  CpuRecord& r = record(victim);
  const uint32_t own_id = smpboot_apic_id();
  if (r.apic_id == own_id) return code(Error::kInvalidArgument);
  if (Status s = with_apic([&](auto& apic) { return begin_offline(r, apic); }); !s) return code(s);
  CClock clock;
  CWaiter waiter;
  (void)smpboot_send_ipi(r.apic_id, offline_vector);
  return code(wait_offline(r, clock, waiter, timeout_us));
}

void smpboot_offline_self(void) {
  asm volatile("cli" ::: "memory");
  CpuRecord* self = g_cpus.find_record(ApicId{smpboot_apic_id()});
  smpboot_eoi();
  if (self != nullptr) {
    (void)smpboot_send_ipi(self->controller().value, g_config.wake_vector);
    (void)complete_offline(*self);  // the last act: any controller may wake us from here on
  }
  x86_64::park();
}

smpboot_error smpboot_bring_online(smpboot_cpu* victim, uint64_t timeout_us) {
  if (victim == nullptr) return code(Error::kInvalidArgument);
  if (!g_trampoline_installed) return code(Error::kCalledOutOfOrder);
  CClock clock;
  CWaiter waiter;
  return code(with_apic([&](auto& apic) {
    return bring_online(record(victim), apic, clock, waiter, g_start_page, kModernDelays, timeout_us);
  }));
}

void smpboot_nmi_dispatch(NmiFrame* frame) {
  const bool woken = with_apic([&](auto& apic) { return bool(take_nmi_wake(g_cpus, apic.id(), *frame)); });
  if (!woken && g_platform.other_nmi) g_platform.other_nmi(static_cast<smpboot_nmi_frame*>(frame));
}

uint32_t smpboot_apic_id(void) {
  return with_apic([](auto& apic) { return apic.id().value; });
}
void smpboot_eoi(void) {
  with_apic([](auto& apic) { apic.eoi(); });
}
smpboot_error smpboot_send_ipi(uint32_t apic_id, uint8_t vector) {
  return code(with_apic([&](auto& apic) { return apic.send(IpiCommand::fixed(ApicId{apic_id}, vector)); }));
}

const char* smpboot_error_name(smpboot_error error) { return error_name(Error(error)); }
const char* smpboot_state_name(smpboot_cpu_state state) { return cpu_state_name(CpuState(state)); }
const char* smpboot_stage_name(smpboot_boot_stage stage) { return boot_stage_name(BootStage(stage)); }

size_t smpboot_format_cpu(const smpboot_cpu* cpu, char* buffer, size_t size) {
  if (cpu == nullptr) return 0;
  const CpuRecord& r = record(cpu);
  size_t n = 0;
  auto put = [&](const char* s) {
    for (; *s; ++s, ++n) {
      if (n + 1 < size) buffer[n] = *s;
    }
  };
  auto put_u = [&](uint64_t v) {
    char digits[21];
    int i = 20;
    digits[i] = '\0';
    do { digits[--i] = char('0' + v % 10); } while (v /= 10);
    put(digits + i);
  };
  put("cpu="); put_u(r.index);
  put(" apic="); put_u(r.apic_id);
  put(" state="); put(cpu_state_name(r.load_state()));
  put(" stage="); put(boot_stage_name(r.load_stage()));
  put(" error="); put(error_name(r.error));
  put(" wake_us="); put_u(r.alive_us >= r.wake_sent_us ? r.alive_us - r.wake_sent_us : 0);
  put(" online_us="); put_u(r.online_us >= r.wake_sent_us ? r.online_us - r.wake_sent_us : 0);
  if (size != 0) buffer[n < size ? n : size - 1] = '\0';
  return n;
}

}  // extern "C"
