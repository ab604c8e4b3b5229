// Waking a parked CPU with an NMI: the wake method for CPU0, the firmware BSP, which must never
// get INIT (INIT sends it back into the firmware; measured in QEMU and Bochs: the machine is
// lost). A CPU parked in `cli; hlt` still takes NMIs (Intel SDM Vol. 3A "Nonmaskable
// Interrupt (NMI)": NMIs are not blocked by IF). Its NMI handler asks pending_nmi_wake() for
// its own record and, if a wake is pending, enters the *same* entry path as every AP: the
// record's stack, then record->entry(record) (x86_64::record_entry_thunk in arch/x86_64/).
#pragma once

#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../core/result.hpp"
#include "../percpu/cpu_table.hpp"
#include "wake_record.hpp"

namespace smpboot {

// begin_wake marks the wake in the record first (release), with the caller's APIC ID as the
// controller the woken CPU tells, then the NMI goes out, so the target's handler (acquire)
// sees the pending wake whenever it sees the NMI.
template <LocalApic Apic, Clock Clk>
Status wake_cpu_nmi(Apic& apic, Clk& clock, CpuRecord& record) noexcept {
  if (Status s = begin_wake(record, clock, apic.id()); !s) return s;
  const Status sent = apic.send(IpiCommand::nmi(record.apic()));
  if (!sent) fail_wake(record, sent.error());
  return sent;
}

// In the NMI handler of the CPU whose APIC ID is `self`: its record if a wake is pending for
// it, else nullptr (an unrelated NMI: the handler just returns).
template <uint32_t N>
CpuRecord* pending_nmi_wake(CpuTable<N>& table, ApicId self) noexcept {
  CpuRecord* r = table.find_record(self);
  if (r == nullptr) return nullptr;
  if (r->wake_pending.load(MemoryOrder::kAcquire) == 0) return nullptr;
  return r->load_state() == CpuState::kWakeSent ? r : nullptr;
}

}  // namespace smpboot
