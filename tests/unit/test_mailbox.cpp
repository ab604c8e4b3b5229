// The ACPI multiprocessor wakeup mailbox wake (boot/mailbox.hpp, ACPI 6.4+ 5.2.12.19) against a
// recording fake firmware: the order of the OS's writes (ID and vector before the command),
// the acknowledgement, the withdrawn request of a mailbox that never acknowledges (a typed
// error, the CPU failed, the next CPU still woken), a busy mailbox, and the wakeup vector of
// an installed trampoline page.
#include <doctest/doctest.h>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/boot/bringup.hpp>
#include <smpboot/percpu/cpu_table.hpp>
#include <smpboot/testing/fakes.hpp>
#include <smpboot/boot/mailbox.hpp>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace smpboot;
using namespace smpboot::testing;

namespace {

struct NoWait : FakeInterruptFlag {
  void wait(const WaitDeadline&) noexcept {}
};

// The firmware side in one thread: every read of the command after a Wakeup lets the AP whose
// ID was written take it, if that ID answers (`acks`): it clears the command and "jumps",
// which here moves its record on as the trampoline and ap_main would (alive, online).
struct FakeMailbox {
  AcpiWakeupMailbox box{};
  std::vector<std::string> log;
  std::set<uint32_t> acks;
  CpuTable<8>* table = nullptr;
  bool come_online = true;
  std::vector<uint64_t> vectors_taken;

  uint16_t load_command() noexcept {
    if (box.command == uint16_t(mailbox::Command::kWakeup) && acks.count(box.apic_id)) {
      box.command = 0;
      vectors_taken.push_back(box.wakeup_vector);
      log.push_back("ack " + std::to_string(box.apic_id));
      if (come_online && table) {
        CpuRecord* r = table->find_record(ApicId{box.apic_id});
        (void)r->transition(CpuState::kWakeSent, CpuState::kAlive);
        (void)r->transition(CpuState::kAlive, CpuState::kOnline);
      }
    }
    return box.command;
  }
  void store_apic_id(uint32_t id) noexcept {
    box.apic_id = id;
    log.push_back("id " + std::to_string(id));
  }
  void store_wakeup_vector(uint64_t v) noexcept {
    box.wakeup_vector = v;
    log.push_back("vector");
  }
  void store_command(uint16_t c) noexcept {
    box.command = c;
    log.push_back("command " + std::to_string(c));
  }
  bool exchange_command(uint16_t expected, uint16_t desired) noexcept {
    log.push_back("withdraw");
    if (box.command != expected) return false;
    box.command = desired;
    return true;
  }
};
static_assert(MailboxAccess<FakeMailbox>);

struct Rig {
  std::unique_ptr<CpuTable<8>> table = std::make_unique<CpuTable<8>>();
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  FakeClock clock;
  NoWait waiter;
  FakeMailbox mailbox;
  explicit Rig(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) REQUIRE(table->add(ApicId{i}).ok());
    REQUIRE(mark_bsp_online((*table)[0], 1, true).ok());
    mailbox.table = table.get();
  }
};

constexpr uint64_t kVector = 0x8000 + 0x32F;

}  // namespace

TEST_CASE("the mailbox layout is the specification's (ACPI 6.4 5.2.12.19)") {
  CHECK(offsetof(AcpiWakeupMailbox, command) == 0);
  CHECK(offsetof(AcpiWakeupMailbox, apic_id) == 4);
  CHECK(offsetof(AcpiWakeupMailbox, wakeup_vector) == 8);
  CHECK(offsetof(AcpiWakeupMailbox, reserved_for_os) == 16);
  CHECK(sizeof(AcpiWakeupMailbox) == 4096);
  CHECK(uint16_t(mailbox::Command::kWakeup) == 1);
  CHECK(check_mailbox_address(0x7FFF'F000).ok());
  CHECK(check_mailbox_address(0).error() == Error::kMailboxBadAddress);
  CHECK(check_mailbox_address(0x7FFF'F010).error() == Error::kMailboxBadAddress);
  CHECK(std::string(error_name(Error::kMailboxNoAck)) == "mailbox_no_ack");
}

TEST_CASE("a wake writes the ID and the vector, then the command, and waits for the ack") {
  Rig rig(2);
  rig.mailbox.acks = {1};
  auto& r = (*rig.table)[1];
  REQUIRE(wake_cpu_mailbox(rig.mailbox, rig.clock, r, kVector, ApicId{0}, {}).ok());
  CHECK(rig.mailbox.log ==
        std::vector<std::string>{"id 1", "vector", "command 1", "ack 1"});
  CHECK(rig.mailbox.vectors_taken == std::vector<uint64_t>{kVector});
  CHECK(r.load_state() == CpuState::kOnline);
  CHECK(r.controller_apic_id == 0);
}

TEST_CASE("no acknowledgement: the request is withdrawn and the CPU fails with kMailboxNoAck") {
  Rig rig(2);
  MailboxWakeOptions o;
  o.ack_timeout_us = 50;
  auto& r = (*rig.table)[1];
  CHECK(wake_cpu_mailbox(rig.mailbox, rig.clock, r, kVector, ApicId{0}, o).error() ==
        Error::kMailboxNoAck);
  CHECK(r.load_state() == CpuState::kFailed);
  CHECK(r.error == Error::kMailboxNoAck);
  CHECK(rig.mailbox.box.command == 0);  // free for the next CPU
  CHECK(rig.mailbox.log.back() == "withdraw");
  CHECK(rig.clock.now < 50 + 20);        // gave up at the deadline, not later
}

TEST_CASE("a busy mailbox is never overwritten") {
  Rig rig(2);
  rig.mailbox.box.command = 1;
  rig.mailbox.box.apic_id = 7;
  auto& r = (*rig.table)[1];
  CHECK(wake_cpu_mailbox(rig.mailbox, rig.clock, r, kVector, ApicId{0}, {}).error() ==
        Error::kMailboxBusy);
  CHECK(r.error == Error::kMailboxBusy);
  CHECK(rig.mailbox.box.apic_id == 7);
  CHECK(rig.mailbox.log.empty());
}

TEST_CASE("bringup through the mailbox: one CPU at a time; a silent one fails, the rest come up") {
  Rig rig(5);
  rig.mailbox.acks = {1, 2, 4};  // CPU 3's firmware loop is dead
  MailboxWakeOptions o;
  o.ack_timeout_us = 100;
  o.timeout_us = 1000;
  const BringupReport rep =
      bring_up_aps_mailbox(*rig.table, rig.mailbox, rig.apic, rig.clock, rig.waiter, kVector, o);
  CHECK(rep.intended == 5);
  CHECK(rep.online == 4);
  CHECK(rep.failed == 1);
  CHECK((*rig.table)[3].error == Error::kMailboxNoAck);
  // Each request was acknowledged or withdrawn before the next ID was written.
  std::vector<std::string> ids;
  for (size_t i = 0; i < rig.mailbox.log.size(); ++i) {
    if (rig.mailbox.log[i].rfind("id ", 0) == 0 && i > 0) {
      const std::string& before = rig.mailbox.log[i - 1];
      CHECK((before.rfind("ack", 0) == 0 || before == "withdraw"));
    }
  }
  // The BSP was never the target.
  for (const auto& line : rig.mailbox.log) CHECK(line != "id 0");
}

TEST_CASE("an AP that acknowledges but never comes online times out as on every path") {
  Rig rig(2);
  rig.mailbox.acks = {1};
  rig.mailbox.come_online = false;
  MailboxWakeOptions o;
  o.timeout_us = 100;
  const BringupReport rep =
      bring_up_aps_mailbox(*rig.table, rig.mailbox, rig.apic, rig.clock, rig.waiter, kVector, o);
  CHECK(rep.failed == 1);
  CHECK((*rig.table)[1].error == Error::kApNeverAlive);
}

TEST_CASE("mailbox_wakeup_vector reads the installed page's parameter block") {
  std::vector<uint8_t> page(4096, 0);
  TrampolineParams p{};
  p.magic = kTrampolineMagic;
  p.layout_version = kBootLayoutVersion;
  p.blob_size = 1200;
  p.page_phys = 0x9000;
  p.mailbox64_offset = 0x32F;
  std::memcpy(page.data() + kTrampolineParamsOffset, &p, kTrampolineParamsBytes);
  auto v = mailbox_wakeup_vector(page.data());
  REQUIRE(v.ok());
  CHECK(*v == 0x932F);
  p.mailbox64_offset = 0;
  std::memcpy(page.data() + kTrampolineParamsOffset, &p, kTrampolineParamsBytes);
  CHECK(mailbox_wakeup_vector(page.data()).error() == Error::kMailboxNoEntry);
  p.layout_version = kBootLayoutVersion - 1;
  std::memcpy(page.data() + kTrampolineParamsOffset, &p, kTrampolineParamsBytes);
  CHECK(mailbox_wakeup_vector(page.data()).error() == Error::kLayoutMismatch);
  CHECK(mailbox_wakeup_vector(nullptr).error() == Error::kLayoutMismatch);
}
