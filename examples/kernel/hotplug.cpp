// Offline and online for any CPU, and the NMI path that brings CPU0 back.
//
// Offline: the controller claims the victim (online -> going_down, which records the
// controller's APIC ID in the victim's record) and sends kOfflineVector. The victim, in that
// handler with interrupts off, tells that controller and then, as its very last act, publishes
// `offline` and enters the library's park loop: from `offline` on any controller may wake it,
// so nothing may follow but the park loop (smpboot/boot/hotplug.hpp).
//
// Online: smpboot::bring_online picks the wake from the record. CPU0's NMI gate points at the
// library's entry (nmi_entry.o), which calls smpboot_nmi_dispatch below; take_nmi_wake finds a
// pending wake in CPU0's own record and turns the NMI's IRET into record_entry_thunk on that
// record's stack: the same ap_entry, with the same record fields, as every AP.
#include "hotplug.hpp"

namespace kernel {
namespace {

// NMI wakes that found CPU0 outside its park loop, and where the last one did.
constinit Atomic<uint32_t> g_nmi_wakes_outside_park{0};
constinit uint64_t g_nmi_wake_outside_rip = 0;

template <ApicMode M>
void on_offline_request(platform::InterruptFrame&) {
  lapic_eoi<M>();  // before parking: CPU0 keeps its APIC across an NMI wake
  CpuRecord* self = my_record<M>();
  if (self == nullptr || self->load_state() != CpuState::kGoingDown) return;
  // Tell the waiting controller first (it checks the state, so an IPI a moment early only
  // makes it look again), then publish offline as the last act before parking.
  (void)make_apic<M>().send(IpiCommand::fixed(self->controller(), kWakeVector));
  (void)complete_offline(*self);
  park_forever();  // APs: restarted by INIT/SIPI; CPU0: by NMI (on_nmi)
}

// A pending wake for our own record: take_nmi_wake rewrote the frame to enter the one entry
// path with that record (rsp = stack_top, rdi = record, interrupts off). Any other NMI is not
// ours to handle: return.
template <ApicMode M>
void on_nmi(NmiFrame& frame) {
  const NmiWakeResult wake = take_nmi_wake(g_cpus, make_apic<M>().id(), frame);
  if (!wake) return;
  if (!wake.in_park_loop) {  // the interrupted code is abandoned: it must be the park loop
    g_nmi_wake_outside_rip = wake.interrupted_rip;
    g_nmi_wakes_outside_park.fetch_add(1, MemoryOrder::kRelease);
  }
  // The record's own stack; only smp.inject=cpu0_stale_bootdata makes it another CPU's here.
  frame.rsp = boot_data_for(*wake.record).stack_top;
}

// The NMI handler of the kernel's APIC mode, set once by install_hotplug_handlers.
using NmiHandler = void (*)(NmiFrame&);
constinit Atomic<NmiHandler> g_nmi_handler{nullptr};

}  // namespace

template <ApicMode M>
void install_hotplug_handlers() {
  platform::set_handler(kOfflineVector, on_offline_request<M>);
  g_nmi_handler.store(on_nmi<M>, MemoryOrder::kRelease);
  platform::set_gate(platform::kNmiVector, smpboot_nmi_entry);
}

template <ApicMode M>
Status take_offline(CpuRecord& victim, uint64_t timeout_us) {
  auto apic = make_apic<M>();
  if (Status s = begin_offline(victim, apic); !s) return s;
  auto clock = tsc_clock();
  HaltWaiter waiter;
  (void)apic.send(IpiCommand::fixed(victim.apic(), kOfflineVector));
  return wait_offline(victim, clock, waiter, timeout_us);
}

template <ApicMode M>
Status bring_back_online(CpuRecord& victim, uint64_t timeout_us) {
  auto apic = make_apic<M>();
  auto clock = tsc_clock();
  HaltWaiter waiter;
  g_online_awaited.store(1, MemoryOrder::kRelease);
  return bring_online(victim, apic, clock, waiter, g_start_page, g_config.resolve_delays(),
                      timeout_us);
}

uint32_t nmi_wakes_outside_park() { return g_nmi_wakes_outside_park.load(MemoryOrder::kAcquire); }
uint64_t nmi_wake_outside_park_rip() { return g_nmi_wake_outside_rip; }

template void install_hotplug_handlers<ApicMode::kXApic>();
template void install_hotplug_handlers<ApicMode::kX2Apic>();
template Status take_offline<ApicMode::kXApic>(CpuRecord&, uint64_t);
template Status take_offline<ApicMode::kX2Apic>(CpuRecord&, uint64_t);
template Status bring_back_online<ApicMode::kXApic>(CpuRecord&, uint64_t);
template Status bring_back_online<ApicMode::kX2Apic>(CpuRecord&, uint64_t);

}  // namespace kernel

// Called by the library's NMI entry (nmi_entry.o) with the saved registers and IRET frame.
extern "C" void smpboot_nmi_dispatch(smpboot::NmiFrame* frame) {
  if (auto handler = kernel::g_nmi_handler.load(smpboot::MemoryOrder::kAcquire)) handler(*frame);
}
