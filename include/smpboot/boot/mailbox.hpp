// Waking a CPU through the ACPI multiprocessor wakeup mailbox (ACPI 6.4+ 5.2.12.19
// "Multiprocessor Wakeup Structure", its "Multiprocessor Wakeup Mailbox Structure"): the wake
// method of platforms that start no AP with INIT/SIPI (Intel TDX guests). The firmware holds
// every AP in a loop reading the mailbox; the OS writes an APIC ID and a wakeup vector, then the
// Wakeup command; the AP whose ID it is clears the command (its acknowledgement) and jumps to
// the vector in 64-bit mode with paging on (see asm/trampoline.asm, mailbox64_entry). Here: the
// mailbox layout, the access seam, the wake of one CPU (wake_cpu_mailbox) and a bringup of every
// AP through it (bring_up_aps_mailbox). Handing CPUs back (version 1's reset vector) is not done.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bringup.hpp"
#include "trampoline_layout.hpp"
#include "wait.hpp"
#include "../concepts/clock.hpp"
#include "../concepts/local_apic.hpp"
#include "../concepts/waiter.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../percpu/cpu_table.hpp"
#include "../wake/wake_record.hpp"

namespace smpboot {

namespace mailbox {

// Mailbox commands (5.2.12.19, "Multiprocessor Wakeup Mailbox Structure", Command field).
// Test (mailbox version 1) asks the firmware to prove it holds a CPU handed back to it.
enum class Command : uint16_t { kNoop = 0, kWakeup = 1, kTest = 2 };

inline constexpr uint64_t kSize = 4096;       // one 4 KiB-aligned page of reserved memory
inline constexpr uint64_t kAlignment = 4096;

}  // namespace mailbox

// The mailbox as the specification lays it out: the first 2 KiB belong to the OS (only the
// first 16 bytes have meaning), the second 2 KiB to the firmware. Never copied: a kernel maps
// the page and reaches it through a MailboxPointer.
struct AcpiWakeupMailbox {
  uint16_t command;          // mailbox::Command; the AP's acknowledgement writes kNoop
  uint16_t reserved;
  uint32_t apic_id;          // the CPU to wake (its local APIC ID, 32-bit: x2APIC IDs)
  uint64_t wakeup_vector;    // physical address the AP jumps to
  uint8_t reserved_for_os[2032];
  uint8_t reserved_for_firmware[2048];
};
static_assert(offsetof(AcpiWakeupMailbox, command) == 0);
static_assert(offsetof(AcpiWakeupMailbox, apic_id) == 4);
static_assert(offsetof(AcpiWakeupMailbox, wakeup_vector) == 8);
static_assert(offsetof(AcpiWakeupMailbox, reserved_for_firmware) == 2048);
static_assert(sizeof(AcpiWakeupMailbox) == mailbox::kSize);

// The seam: how the OS side reads and writes the mailbox, so the host can test the protocol
// (recording fakes, the simulator's firmware threads). Orders are part of the contract:
// load_command acquires (an acknowledged command means the AP took the vector), store_command
// releases (the AP that sees the command sees the ID and the vector written before it).
template <class T>
concept MailboxAccess = requires(T& m, uint16_t command, uint32_t id, uint64_t vector) {
  { m.load_command() } noexcept -> SameAs<uint16_t>;
  { m.store_apic_id(id) } noexcept -> SameAs<void>;
  { m.store_wakeup_vector(vector) } noexcept -> SameAs<void>;
  { m.store_command(command) } noexcept -> SameAs<void>;
  // Compare-and-swap of the command (acq_rel): true if it held `expected` and now `desired`.
  { m.exchange_command(command, command) } noexcept -> SameAs<bool>;
};

// The mailbox at a kernel-virtual address (the firmware's page, mapped uncached or write-back
// as the firmware's memory map says). Every access is one atomic access of the field's width.
class MailboxPointer {
 public:
  constexpr explicit MailboxPointer(AcpiWakeupMailbox* mailbox) noexcept : m_(mailbox) {}
  uint16_t load_command() noexcept { return __atomic_load_n(&m_->command, __ATOMIC_ACQUIRE); }
  void store_apic_id(uint32_t id) noexcept { __atomic_store_n(&m_->apic_id, id, __ATOMIC_RELAXED); }
  void store_wakeup_vector(uint64_t vector) noexcept {
    __atomic_store_n(&m_->wakeup_vector, vector, __ATOMIC_RELAXED);
  }
  void store_command(uint16_t command) noexcept {
    __atomic_store_n(&m_->command, command, __ATOMIC_RELEASE);
  }
  bool exchange_command(uint16_t expected, uint16_t desired) noexcept {
    return __atomic_compare_exchange_n(&m_->command, &expected, desired, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
  }
  AcpiWakeupMailbox* get() const noexcept { return m_; }

 private:
  AcpiWakeupMailbox* m_;
};
static_assert(MailboxAccess<MailboxPointer>);

// The MADT's mailbox address before anyone maps it: not 0, 4 KiB aligned (5.2.12.19).
constexpr Status check_mailbox_address(uint64_t mailbox_phys) noexcept {
  if (mailbox_phys == 0 || (mailbox_phys & (mailbox::kAlignment - 1)) != 0) {
    return Error::kMailboxBadAddress;
  }
  return {};
}

// The wakeup vector for a trampoline page installed by install_trampoline: the page's
// physical address plus the blob's mailbox64_offset, read from the installed copy (`page` is
// its kernel-virtual address). kLayoutMismatch for a page holding no blob of this layout.
inline Result<uint64_t> mailbox_wakeup_vector(const void* page) noexcept {
  if (page == nullptr) return Error::kLayoutMismatch;
  TrampolineParams p{};
  __builtin_memcpy(&p, static_cast<const uint8_t*>(page) + kTrampolineParamsOffset,
                   kTrampolineParamsBytes);
  if (p.magic != kTrampolineMagic || p.layout_version != kBootLayoutVersion) {
    return Error::kLayoutMismatch;
  }
  if (p.mailbox64_offset == 0 || p.mailbox64_offset >= p.blob_size) return Error::kMailboxNoEntry;
  return uint64_t{p.page_phys} + p.mailbox64_offset;
}

// How long the mailbox may take. The specification sets no time for the acknowledgement (Linux
// waits without end; a VMM can delay a vCPU at will); the library gives up instead, withdraws
// the request and fails the CPU, so a dead mailbox costs one timeout per CPU, never a hang.
struct MailboxWakeOptions {
  uint64_t ack_timeout_us = 1'000'000;  // from the command until the AP clears it
  uint64_t poll_us = 1;                 // Clock::delay_us between reads of the command
  uint64_t timeout_us = 2'000'000;      // for all APs, from acknowledgement to online
  // For the INIT that fail_timed_out_wake sends an AP that took the vector but never came
  // online (boot/wait.hpp), as on every other path.
  WakeDelays delays = kModernDelays;
};

// One wake through the mailbox, in the specification's order:
//   1. begin_wake: the record is wake_sent with its wake pending (release) before the command;
//   2. the mailbox must be idle (command Noop), else kMailboxBusy: never overwrite a request;
//   3. write the APIC ID and the wakeup vector, then the Wakeup command (release);
//   4. wait for the acknowledgement (the command back to Noop, acquire), reading it every
//      poll_us: the AP clears it with no interrupt to wake a sleeping waiter;
//   5. no acknowledgement by ack_timeout_us: withdraw the request (Wakeup -> Noop, one CAS, so
//      the mailbox is free for the next CPU) and fail the record with kMailboxNoAck. If the CAS
//      finds Noop, the AP acknowledged at the last moment: the wake stands.
// A CPU that acknowledged is wake_sent and goes on exactly as after a STARTUP (wait_for_wake).
// An AP that read the command just before the withdrawal may still jump: it finds its record
// failed in ap_main and parks, as a late STARTUP'd AP does.
template <MailboxAccess M, Clock Clk>
Status wake_cpu_mailbox(M& mailbox, Clk& clock, CpuRecord& record, uint64_t wakeup_vector,
                        ApicId controller, const MailboxWakeOptions& options) noexcept {
  if (Status s = begin_wake(record, clock, controller); !s) return s;
  if (mailbox.load_command() != uint16_t(mailbox::Command::kNoop)) {
    fail_wake(record, Error::kMailboxBusy);
    return Error::kMailboxBusy;
  }
  mailbox.store_apic_id(record.apic().value);
  mailbox.store_wakeup_vector(wakeup_vector);
  mailbox.store_command(uint16_t(mailbox::Command::kWakeup));
  const Deadline<Clk> deadline(clock, options.ack_timeout_us);
  while (mailbox.load_command() != uint16_t(mailbox::Command::kNoop)) {
    if (deadline.expired()) {
      if (!mailbox.exchange_command(uint16_t(mailbox::Command::kWakeup),
                                    uint16_t(mailbox::Command::kNoop))) {
        break;  // acknowledged after all
      }
      fail_wake(record, Error::kMailboxNoAck);
      return Error::kMailboxNoAck;
    }
    clock.delay_us(options.poll_us);
  }
  return {};
}

// Every offline or failed AP of the table through the mailbox, one CPU at a time (the mailbox
// holds one request), then one wait for all of them (wait_for_wakes, the same timeout handling
// as INIT/SIPI bringup). Record 0 must be the BSP, already online (mark_bsp_online). `apic` is
// the caller's, for its own ID (the controller each woken CPU tells) and the INIT a timed-out
// AP gets. Calling it again retries the failed ones.
template <uint32_t N, MailboxAccess M, LocalApic Apic, Clock Clk, Waiter W>
BringupReport bring_up_aps_mailbox(CpuTable<N>& table, M& mailbox, Apic& apic, Clk& clock,
                                   W& waiter, uint64_t wakeup_vector,
                                   const MailboxWakeOptions& options) noexcept {
  BringupReport report;
  report.intended = table.size();
  const ApicId controller = apic.id();
  report.start_us = clock.now_us();
  for (auto& r : table) {
    if (!bringup_may_wake(r)) continue;
    (void)wake_cpu_mailbox(mailbox, clock, r, wakeup_vector, controller, options);
  }
  wait_for_wakes(table, apic, clock, waiter, options.delays, options.timeout_us);
  count_bringup_outcome(table, report);
  return report;
}

}  // namespace smpboot
