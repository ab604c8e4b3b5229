// Offline and online for any CPU, and the NMI path that brings CPU0 back.
//
// Offline: the controller claims the victim (online -> going_down) and sends kOfflineVector.
// The victim, in that handler with interrupts off, tells the controller and then, as its very
// last act, publishes `offline` and enters the park loop: from `offline` on any controller may
// wake it, so nothing may follow but the park loop (smpboot/boot/hotplug.hpp).
//
// Online: smpboot::bring_online picks the wake from the record. CPU0's NMI handler asks for a
// pending wake in its own record and IRETs into record_entry_thunk on that record's stack:
// the same ap_entry, with the same record fields, as every AP.
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
  (void)make_apic<M>().send(
      IpiCommand::fixed(ApicId{g_controller_apic.load(MemoryOrder::kAcquire)}, kWakeVector));
  (void)complete_offline(*self);
  park_forever();  // APs: restarted by INIT/SIPI; CPU0: by NMI (on_nmi)
}

// A pending wake for our own record enters the one entry path with that record: IRET to
// record_entry_thunk with rsp = stack_top, rdi = record, interrupts off. Any other NMI is not
// ours to handle: return.
template <ApicMode M>
void on_nmi(platform::InterruptFrame& frame) {
  CpuRecord* self = pending_nmi_wake(g_cpus, make_apic<M>().id());
  if (self == nullptr) return;
  if (!platform::in_park_loop(frame.rip)) {  // the interrupted code is abandoned: it must be
    g_nmi_wake_outside_rip = frame.rip;      // the park loop
    g_nmi_wakes_outside_park.fetch_add(1, MemoryOrder::kRelease);
  }
  frame.rsp = boot_data_for(*self).stack_top;
  frame.rdi = reinterpret_cast<uint64_t>(self);
  frame.rip = reinterpret_cast<uint64_t>(&x86_64::record_entry_thunk);
  frame.rflags &= ~uint64_t{1u << 9};  // IF: the entry enables interrupts when it is ready
}

}  // namespace

template <ApicMode M>
void install_hotplug_handlers() {
  platform::set_handler(kOfflineVector, on_offline_request<M>);
  platform::set_handler(platform::kNmiVector, on_nmi<M>);
}

template <ApicMode M>
Status take_offline(CpuRecord& victim, uint64_t timeout_us) {
  if (Status s = begin_offline(victim); !s) return s;
  auto clock = tsc_clock();
  HaltWaiter waiter;
  (void)make_apic<M>().send(IpiCommand::fixed(victim.apic(), kOfflineVector));
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
