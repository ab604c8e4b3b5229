#include "inject.hpp"

namespace kernel {
namespace {

void inject_into_bringup(CpuTable<kMaxCpus>& cpus, TrampolineSetup& setup) {
  if (cpus.size() < 2) return;
  const uint32_t last = cpus.size() - 1;
  // dead_ap: the last AP's record has no entry, so the trampoline parks it (after stage
  // `long`): the timeout path, `failed` with ap_never_alive, the boot goes on.
  if (g_config.inject_dead_ap) cpus[last].entry = 0;
  // ap_hang:<stage>: the last AP parks right after reaching that stage.
  if (g_config.inject_ap_hang != BootStage::kNone) {
    setup.stop_index = last;
    setup.stop_stage = g_config.inject_ap_hang;
  }
}

const CpuRecord* stale_boot_data(const CpuRecord& waking) {
  return waking.is_firmware_bsp() ? g_last_woken_ap.load(MemoryOrder::kAcquire) : nullptr;
}

}  // namespace

void install_fault_injection() {
  if (g_config.inject_dead_ap || g_config.inject_ap_hang != BootStage::kNone) {
    g_bringup_fault = inject_into_bringup;
  }
  if (g_config.inject_cpu0_stale_bootdata) g_boot_data_fault = stale_boot_data;
}

}  // namespace kernel
