// The stand-in firmware for smp.wake=mailbox (mailbox.hpp). Each AP, started by INIT/SIPI into
// its own record of a firmware-only CPU table, says it is parked and polls the mailbox the way
// the specification tells a firmware to: read the command (acquire); if it is Wakeup and the
// APIC ID is its own, read the wakeup vector, clear the command (its acknowledgement, release)
// and jump to the vector in 64-bit mode with paging on (the kernel's identity map), interrupts
// off. Polling with `pause`, not `hlt` + IPI: the specification's firmware polls, and a sleeping
// AP would need a wake the OS side never sends. Under TCG a spinning vCPU takes host time from
// the others, so the boot tests keep the CPU count small (4 and 8).
#include "mailbox.hpp"

extern "C" const uint8_t smpboot_trampoline_start[];
extern "C" const uint8_t smpboot_trampoline_end[];

namespace kernel {
namespace {

constexpr uint64_t kFirmwareTrampolinePhys = 0x7000;  // its own SIPI page, below the kernel's
constexpr uint64_t kFirmwareStackBytes = 4096;

alignas(4096) constinit AcpiWakeupMailbox g_mailbox{};
constinit CpuTable<kMaxCpus> g_firmware_cpus;

[[noreturn]] void mailbox_loop(CpuRecord* self) {
  (void)self->transition(CpuState::kWakeSent, CpuState::kAlive);
  (void)self->transition(CpuState::kAlive, CpuState::kOnline);  // parked: the BSP's tick sees it
  const uint32_t my_id = self->apic().value;
  for (;;) {
    const uint16_t command = __atomic_load_n(&g_mailbox.command, __ATOMIC_ACQUIRE);
    if (command == uint16_t(mailbox::Command::kWakeup) &&
        __atomic_load_n(&g_mailbox.apic_id, __ATOMIC_RELAXED) == my_id) {
      const uint64_t vector = __atomic_load_n(&g_mailbox.wakeup_vector, __ATOMIC_RELAXED);
      __atomic_store_n(&g_mailbox.command, uint16_t(mailbox::Command::kNoop), __ATOMIC_RELEASE);
      asm volatile("cli\n\tjmp *%0" ::"r"(vector) : "memory");
      __builtin_unreachable();
    }
    __builtin_ia32_pause();
  }
}

}  // namespace

AcpiWakeupMailbox& firmware_mailbox() noexcept { return g_mailbox; }

template <ApicMode M>
uint32_t park_aps_in_mailbox_loop(const TrampolineSetup& setup, const BringupOptions& options) {
  for (auto& r : g_cpus) {
    auto added = g_firmware_cpus.add(r.apic());
    if (!added) return 0;
    CpuRecord& f = g_firmware_cpus[added->value];
    auto* stack = static_cast<uint8_t*>(platform::boot_alloc(kFirmwareStackBytes, 16));
    if (!stack) return 0;
    f.stack_top = reinterpret_cast<uint64_t>(stack + kFirmwareStackBytes);
    f.entry = reinterpret_cast<uint64_t>(&mailbox_loop);
  }
  TrampolineSetup fw_setup = setup;
  fw_setup.table_phys = reinterpret_cast<uint64_t>(&g_firmware_cpus);
  fw_setup.stop_index = kTrampolineNoStop;
  auto page = install_trampoline(reinterpret_cast<void*>(kFirmwareTrampolinePhys),
                                 kFirmwareTrampolinePhys, smpboot_trampoline_start,
                                 size_t(smpboot_trampoline_end - smpboot_trampoline_start),
                                 fw_setup, g_firmware_cpus);
  if (!page) return 0;
  NativeMsr msr;
  (void)mark_bsp_online(g_firmware_cpus[0], tsc_clock().now_us(), read_apic_base(msr).is_bsp());
  auto apic = make_apic<M>();
  auto clock = tsc_clock();
  HaltWaiter waiter;
  BringupOptions fw_options = options;
  if (fw_options.mode == BringupMode::kBroadcast) fw_options.mode = BringupMode::kParallel;
  return bring_up_aps(g_firmware_cpus, apic, clock, waiter, *page, fw_options).online - 1;
}

template uint32_t park_aps_in_mailbox_loop<ApicMode::kXApic>(const TrampolineSetup&, const BringupOptions&);
template uint32_t park_aps_in_mailbox_loop<ApicMode::kX2Apic>(const TrampolineSetup&, const BringupOptions&);

}  // namespace kernel
