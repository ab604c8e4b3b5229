// XApic over the recording FakeMmio: the exact register traffic of each LocalApic operation in
// xAPIC mode (Intel SDM Vol. 3A 11.4-11.6). The ICR is two 32-bit registers and writing ICR_LOW
// sends the IPI, so ICR_HIGH goes first (11.6.1); the delivery-status bit (ICR bit 12) is
// polled boundedly before and after each send.
#include <doctest/doctest.h>

#include <smpboot/apic/xapic.hpp>
#include <smpboot/testing/fakes.hpp>

#include <cstdint>
#include <initializer_list>
#include <cstdio>
#include <string>

using smpboot::ApicId;
using smpboot::Error;
using smpboot::IpiCommand;
using smpboot::StartPage;
using smpboot::XApic;
using smpboot::testing::AccessKind;
using smpboot::testing::FakeMmio;
using smpboot::testing::FakeMmioState;
namespace reg = smpboot::apic_reg;
namespace esr = smpboot::esr;

namespace {

constexpr uint32_t kBusy = smpboot::icr::kDeliveryStatusBit;

// The log as text, one access per line ("W 310 03000000"), so a mismatch shows the difference.
template <class Log>
std::string trace(const Log& log) {
  std::string out;
  char line[48];
  for (uint32_t i = 0; i < log.count; ++i) {
    const auto& a = log.entries[i];
    std::snprintf(line, sizeof line, "%c %03X %08llX\n", a.kind == AccessKind::kRead ? 'R' : 'W',
                  unsigned(a.reg), static_cast<unsigned long long>(a.value));
    out += line;
  }
  return out;
}

uint32_t reads_of(const FakeMmioState& s, uint32_t offset) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.log.count; ++i) {
    n += s.log.entries[i].kind == AccessKind::kRead && s.log.entries[i].reg == offset;
  }
  return n;
}

StartPage page_8000() { return StartPage::from_phys(0x8000).value(); }

// Scripted hardware (FakeMmioState::on_read). `reads` counts every read, this one included.
uint32_t icr_always_busy(FakeMmioState&, uint32_t offset, uint32_t stored) {
  return offset == reg::kIcrLow.xapic_offset ? stored | kBusy : stored;
}
template <uint32_t K>
uint32_t icr_busy_for_first_reads(FakeMmioState& s, uint32_t offset, uint32_t stored) {
  return offset == reg::kIcrLow.xapic_offset && s.reads <= K ? stored | kBusy : stored;
}
uint32_t icr_busy_once_sent(FakeMmioState& s, uint32_t offset, uint32_t stored) {
  const bool sent = s.log.writes_to(reg::kIcrLow.xapic_offset) > 0;
  return offset == reg::kIcrLow.xapic_offset && sent ? stored | kBusy : stored;
}
uint32_t esr_reports_send_accept_and_illegal_vector(FakeMmioState&, uint32_t offset,
                                                    uint32_t stored) {
  return offset == reg::kEsr.xapic_offset ? esr::kSendAccept | esr::kSendIllegalVector : stored;
}

}  // namespace

static_assert(smpboot::LocalApic<XApic<FakeMmio>>);
static_assert(XApic<FakeMmio>::kMode == smpboot::ApicMode::kXApic);

TEST_CASE("INIT, SIPI, SIPI: exact MMIO traffic, ICR high before ICR low, polls around each") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  REQUIRE(apic.send(IpiCommand::init_assert(ApicId{3})).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{3}, page_8000())).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{3}, page_8000())).ok());
  // The fake keeps the last value written, so each poll reads back the previous ICR low word
  // with bit 12 clear: the APIC is idle.
  CHECK(trace(mmio.log) ==
        "R 300 00000000\n"
        "W 310 03000000\n"
        "W 300 00004500\n"
        "R 300 00004500\n"
        "R 300 00004500\n"
        "W 310 03000000\n"
        "W 300 00004608\n"
        "R 300 00004608\n"
        "R 300 00004608\n"
        "W 310 03000000\n"
        "W 300 00004608\n"
        "R 300 00004608\n");
  CHECK(mmio.log.dropped == 0);
}

TEST_CASE("INIT, INIT de-assert, SIPI, SIPI: the MP-spec sequence writes 8500H for the de-assert") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  REQUIRE(apic.send(IpiCommand::init_assert(ApicId{0x21})).ok());
  REQUIRE(apic.send(IpiCommand::init_deassert(ApicId{0x21})).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{0x21}, page_8000())).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{0x21}, page_8000())).ok());
  uint32_t low_words[4] = {};
  uint32_t n = 0;
  for (uint32_t i = 0; i < mmio.log.count; ++i) {
    const auto& a = mmio.log.entries[i];
    if (a.kind == AccessKind::kWrite && a.reg == reg::kIcrLow.xapic_offset && n < 4) {
      low_words[n++] = uint32_t(a.value);
    }
  }
  REQUIRE(n == 4);
  CHECK(low_words[0] == 0x4500u);
  CHECK(low_words[1] == 0x8500u);
  CHECK(low_words[2] == 0x4608u);
  CHECK(low_words[3] == 0x4608u);
  CHECK(mmio.log.writes_to(reg::kIcrHigh.xapic_offset) == 4);
}

TEST_CASE("every ICR low write is preceded by its ICR high write and an idle poll") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  for (uint32_t id : {0u, 1u, 0x7Fu, 0xFEu}) {
    REQUIRE(apic.send(IpiCommand::nmi(ApicId{id})).ok());
  }
  uint32_t lows = 0;
  for (uint32_t i = 0; i < mmio.log.count; ++i) {
    const auto& a = mmio.log.entries[i];
    if (a.kind != AccessKind::kWrite || a.reg != reg::kIcrLow.xapic_offset) continue;
    ++lows;
    REQUIRE(i >= 2);
    const auto& high = mmio.log.entries[i - 1];
    const auto& poll = mmio.log.entries[i - 2];
    CHECK(high.kind == AccessKind::kWrite);
    CHECK(high.reg == reg::kIcrHigh.xapic_offset);
    CHECK(poll.kind == AccessKind::kRead);
    CHECK(poll.reg == reg::kIcrLow.xapic_offset);
    CHECK((poll.value & kBusy) == 0);
  }
  CHECK(lows == 4);
}

TEST_CASE("a delivery-status bit that never clears gives kIcrBusyTimeout after exactly the limit") {
  for (uint32_t limit : {1u, 7u, 200u}) {
    CAPTURE(limit);
    FakeMmioState mmio;
    mmio.on_read = icr_always_busy;
    XApic<FakeMmio> apic{FakeMmio{mmio}, limit};
    CHECK(apic.send(IpiCommand::init_assert(ApicId{1})).error() == Error::kIcrBusyTimeout);
    CHECK(mmio.reads == limit);
    CHECK(reads_of(mmio, reg::kIcrLow.xapic_offset) == limit);
    // Nothing was sent: a pending IPI must not be overwritten.
    CHECK(mmio.log.writes_to(reg::kIcrHigh.xapic_offset) == 0);
    CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 0);
  }
}

TEST_CASE("the default poll limit is kDefaultIcrPolls") {
  FakeMmioState mmio;
  mmio.on_read = icr_always_busy;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  CHECK(apic.send(IpiCommand::init_assert(ApicId{1})).error() == Error::kIcrBusyTimeout);
  CHECK(mmio.reads == smpboot::kDefaultIcrPolls);
  CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 0);
}

TEST_CASE("a delivery-status bit that clears after k polls lets the send proceed") {
  constexpr uint32_t k = 5;  // busy for the first 5 reads, idle from the 6th

  SUBCASE("limit k+1: the (k+1)th poll sees idle, the IPI is sent") {
    FakeMmioState mmio;
    mmio.on_read = icr_busy_for_first_reads<k>;
    XApic<FakeMmio> apic{FakeMmio{mmio}, k + 1};
    CHECK(apic.send(IpiCommand::init_assert(ApicId{2})).ok());
    CHECK(mmio.log.writes_to(reg::kIcrHigh.xapic_offset) == 1);
    CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 1);
    CHECK(mmio.reads == k + 2);  // k busy + 1 idle before, 1 idle after
    // The write came right after the first idle poll.
    REQUIRE(mmio.log.count == k + 4);
    CHECK(mmio.log.entries[k].kind == AccessKind::kRead);
    CHECK((mmio.log.entries[k].value & kBusy) == 0);
    CHECK(mmio.log.entries[k + 1].reg == reg::kIcrHigh.xapic_offset);
    CHECK(mmio.log.entries[k + 2].reg == reg::kIcrLow.xapic_offset);
  }
  SUBCASE("limit k: one poll short, timeout without sending") {
    FakeMmioState mmio;
    mmio.on_read = icr_busy_for_first_reads<k>;
    XApic<FakeMmio> apic{FakeMmio{mmio}, k};
    CHECK(apic.send(IpiCommand::init_assert(ApicId{2})).error() == Error::kIcrBusyTimeout);
    CHECK(mmio.reads == k);
    CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 0);
  }
}

TEST_CASE("a send that never completes after the write reports kIcrBusyTimeout") {
  FakeMmioState mmio;
  mmio.on_read = icr_busy_once_sent;
  XApic<FakeMmio> apic{FakeMmio{mmio}, 4};
  CHECK(apic.send(IpiCommand::startup(ApicId{9}, page_8000())).error() == Error::kIcrBusyTimeout);
  CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 1);  // the IPI did go out
  CHECK(mmio.reads == 1 + 4);                     // one idle poll before, the limit after
}

TEST_CASE("read_esr writes the ESR then reads it (SDM 11.5.3)") {
  // "Before attempt to read from the ESR, software should first write to it": the write
  // latches the errors seen since the last write.
  FakeMmioState mmio;
  mmio.on_read = esr_reports_send_accept_and_illegal_vector;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  CHECK(apic.read_esr() == (esr::kSendAccept | esr::kSendIllegalVector));
  CHECK(trace(mmio.log) ==
        "W 280 00000000\n"
        "R 280 00000024\n");
}

TEST_CASE("id() takes the 8-bit APIC ID from bits 31:24 of the ID register") {
  // SDM 11.4.6 "Local APIC ID": xAPIC ID in bits 31:24; bits 23:0 reserved.
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  for (uint32_t raw : {0x0000'0000u, 0x0100'0000u, 0x2A12'3456u, 0xFE00'0000u, 0xFFFF'FFFFu}) {
    CAPTURE(raw);
    mmio.regs[reg::kId.xapic_offset / 4] = raw;
    CHECK(apic.id().value == raw >> 24);
  }
  CHECK(mmio.log.writes_to(reg::kId.xapic_offset) == 0);
  CHECK(reads_of(mmio, reg::kId.xapic_offset) == 5);
}

TEST_CASE("eoi() writes 0 to the EOI register and nothing else") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  apic.eoi();
  CHECK(trace(mmio.log) == "W 0B0 00000000\n");
}

TEST_CASE("software_enable() sets SVR bit 8 with the spurious vector in bits 7:0") {
  // SDM 11.9 "Spurious Interrupt": bit 8 = APIC software enable.
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  apic.software_enable(0xFF);
  apic.software_enable(0x27);
  CHECK(trace(mmio.log) ==
        "W 0F0 000001FF\n"
        "W 0F0 00000127\n");
}

TEST_CASE("can_address: 8-bit physical IDs up to 0xFE; 0xFF is broadcast") {
  FakeMmioState mmio;
  const XApic<FakeMmio> apic{FakeMmio{mmio}};
  CHECK(apic.can_address(ApicId{0}));
  CHECK(apic.can_address(ApicId{0xFE}));
  CHECK_FALSE(apic.can_address(ApicId{0xFF}));
  CHECK_FALSE(apic.can_address(ApicId{0x100}));
  CHECK_FALSE(apic.can_address(ApicId{0x12345}));
  CHECK_FALSE(apic.can_address(ApicId{0xFFFF'FFFF}));
}

TEST_CASE("a destination the xAPIC cannot address is refused before any register access") {
  for (uint32_t id : {0xFFu, 0x100u, 0x12345u, 0xFFFF'FFFFu}) {
    CAPTURE(id);
    FakeMmioState mmio;
    XApic<FakeMmio> apic{FakeMmio{mmio}};
    CHECK(apic.send(IpiCommand::init_assert(ApicId{id})).error() == Error::kDestinationTooWide);
    CHECK(apic.send(IpiCommand::startup(ApicId{id}, page_8000())).error() ==
          Error::kDestinationTooWide);
    CHECK(mmio.log.count == 0);
    CHECK(mmio.reads == 0);
  }
}

TEST_CASE("0xFE, the highest addressable xAPIC ID, is sent") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  CHECK(apic.send(IpiCommand::init_assert(ApicId{0xFE})).ok());
  CHECK(mmio.regs[reg::kIcrHigh.xapic_offset / 4] == 0xFE00'0000u);
  CHECK(mmio.log.writes_to(reg::kIcrLow.xapic_offset) == 1);
}

TEST_CASE("shorthand IPIs ignore the destination field") {
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  CHECK(apic.send(IpiCommand::init_assert_all_excluding_self()).ok());
  CHECK(apic.send(IpiCommand::startup_all_excluding_self(page_8000())).ok());
  CHECK(trace(mmio.log) ==
        "R 300 00000000\n"
        "W 310 00000000\n"
        "W 300 000C4500\n"
        "R 300 000C4500\n"
        "R 300 000C4500\n"
        "W 310 00000000\n"
        "W 300 000C4608\n"
        "R 300 000C4608\n");
}

TEST_CASE("the APIC timer: divide, LVT, then the initial count that starts it (SDM 11.5.4)") {
  // Divide configuration 0011b = divide by 16; LVT timer mode bits 18:17 (01b periodic),
  // mask bit 16. Writing the initial count starts the count-down, so it goes last.
  FakeMmioState mmio;
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  SUBCASE("periodic") {
    apic.start_periodic_timer(0xEC, 100'000);
    CHECK(trace(mmio.log) ==
          "W 3E0 00000003\n"
          "W 320 000200EC\n"
          "W 380 000186A0\n");
  }
  SUBCASE("one-shot") {
    apic.start_one_shot_timer(0xEC, 5);
    CHECK(trace(mmio.log) ==
          "W 3E0 00000003\n"
          "W 320 000000EC\n"
          "W 380 00000005\n");
  }
  SUBCASE("stop: mask the LVT entry and zero the initial count") {
    apic.stop_timer();
    CHECK(trace(mmio.log) ==
          "W 320 00010000\n"
          "W 380 00000000\n");
  }
  SUBCASE("current count is read from 0x390") {
    mmio.regs[0x390 / 4] = 1234;
    CHECK(apic.timer_current_count() == 1234);
    CHECK(trace(mmio.log) == "R 390 000004D2\n");
  }
}
