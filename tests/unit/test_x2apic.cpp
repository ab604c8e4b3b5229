// X2Apic over the recording FakeMsr: the exact MSR traffic of each LocalApic operation in
// x2APIC mode (Intel SDM Vol. 3A 11.12 "Extended XAPIC (x2APIC)"). An IPI is one 64-bit WRMSR
// to 0x830 with a 32-bit destination in bits 63:32; there is no delivery-status bit, so nothing
// is ever polled (11.12.9 "ICR Operation in x2APIC Mode").
#include <doctest/doctest.h>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/testing/fakes.hpp>

#include <cstdint>
#include <initializer_list>
#include <cstdio>
#include <string>

using smpboot::ApicId;
using smpboot::Error;
using smpboot::IpiCommand;
using smpboot::StartPage;
using smpboot::X2Apic;
using smpboot::testing::AccessKind;
using smpboot::testing::FakeMsr;
using smpboot::testing::FakeMsrState;
namespace reg = smpboot::apic_reg;
namespace esr = smpboot::esr;

namespace {

// The log as text, one access per line ("W 830 0001234500004500").
template <class Log>
std::string trace(const Log& log) {
  std::string out;
  char line[48];
  for (uint32_t i = 0; i < log.count; ++i) {
    const auto& a = log.entries[i];
    if (a.kind == AccessKind::kFence) {  // MFENCE; LFENCE before an x2APIC write
      out += "F\n";
      continue;
    }
    std::snprintf(line, sizeof line, "%c %03X %016llX\n", a.kind == AccessKind::kRead ? 'R' : 'W',
                  unsigned(a.reg), static_cast<unsigned long long>(a.value));
    out += line;
  }
  return out;
}

uint32_t reads_in(const FakeMsrState& s) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.log.count; ++i) n += s.log.entries[i].kind == AccessKind::kRead;
  return n;
}

StartPage page_8000() { return StartPage::from_phys(0x8000).value(); }

}  // namespace

static_assert(smpboot::LocalApic<X2Apic<FakeMsr>>);
static_assert(X2Apic<FakeMsr>::kMode == smpboot::ApicMode::kX2Apic);

TEST_CASE("INIT, SIPI, SIPI: one 64-bit write to MSR 0x830 per IPI and no polling") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  REQUIRE(apic.send(IpiCommand::init_assert(ApicId{0x12345})).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{0x12345}, page_8000())).ok());
  REQUIRE(apic.send(IpiCommand::startup(ApicId{0x12345}, page_8000())).ok());
  CHECK(trace(state.log) ==
        "F\nW 830 0001234500004500\n"
        "F\nW 830 0001234500004608\n"
        "F\nW 830 0001234500004608\n");
  CHECK(reads_in(state) == 0);
}

TEST_CASE("INIT de-assert is encoded as 8500H with the destination in bits 63:32") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  REQUIRE(apic.send(IpiCommand::init_deassert(ApicId{0x300})).ok());
  CHECK(trace(state.log) == "F\nW 830 0000030000008500\n");
}

TEST_CASE("32-bit destinations reach bits 63:32 unchanged") {
  // Includes IDs an xAPIC cannot address: 0xFF is a real CPU in x2APIC mode (11.12.9 keeps
  // only FFFF_FFFFH as broadcast).
  for (uint32_t id : {0u, 0xFEu, 0xFFu, 0x100u, 0x12345u, 0x8000'0000u, 0xFFFF'FFFEu}) {
    CAPTURE(id);
    FakeMsrState state;
    X2Apic<FakeMsr> apic{FakeMsr{state}};
    REQUIRE(apic.can_address(ApicId{id}));
    REQUIRE(apic.send(IpiCommand::nmi(ApicId{id})).ok());
    REQUIRE(state.log.count == 2);
    CHECK(state.log.entries[0].kind == AccessKind::kFence);
    CHECK(state.log.entries[1].kind == AccessKind::kWrite);
    CHECK(state.log.entries[1].reg == 0x830u);
    CHECK(state.log.entries[1].value == ((uint64_t{id} << 32) | 0x4400u));
  }
}

TEST_CASE("the broadcast ID FFFF_FFFFH cannot be addressed and nothing is written") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  CHECK_FALSE(apic.can_address(ApicId{0xFFFF'FFFF}));
  CHECK(apic.send(IpiCommand::init_assert(ApicId{0xFFFF'FFFF})).error() ==
        Error::kDestinationTooWide);
  CHECK(apic.send(IpiCommand::startup(ApicId{0xFFFF'FFFF}, page_8000())).error() ==
        Error::kDestinationTooWide);
  CHECK(state.log.count == 0);
}

TEST_CASE("shorthand IPIs carry no destination") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  REQUIRE(apic.send(IpiCommand::init_assert_all_excluding_self()).ok());
  REQUIRE(apic.send(IpiCommand::startup_all_excluding_self(page_8000())).ok());
  CHECK(trace(state.log) ==
        "F\nW 830 00000000000C4500\n"
        "F\nW 830 00000000000C4608\n");
}

TEST_CASE("every ICR write is preceded by MFENCE; LFENCE, and nothing else is fenced") {
  // SDM Vol. 3A 11.12.3 "MSR Access in x2APIC Mode": WRMSR to an APIC register is not
  // serializing; a store before an IPI (a record marked wake_sent, a token hand-off) must be
  // globally visible before the target can see the IPI. TCG and Bochs never reorder, so only
  // this test can tell.
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  REQUIRE(apic.send(IpiCommand::fixed(ApicId{3}, 0xF0)).ok());
  apic.eoi();
  (void)apic.read_esr();
  CHECK(trace(state.log) ==
        "F\nW 830 00000003000040F0\n"
        "W 80B 0000000000000000\n"
        "W 828 0000000000000000\n"
        "R 828 0000000000000000\n");
}

TEST_CASE("read_esr writes 0 to MSR 0x828 and then reads it") {
  // SDM 11.5.3 "Error Handling": write before read; in x2APIC mode a non-zero write to the
  // ESR raises #GP, so the write must be exactly 0.
  SUBCASE("traffic") {
    FakeMsrState state;
    X2Apic<FakeMsr> apic{FakeMsr{state}};
    CHECK(apic.read_esr() == 0);
    CHECK(trace(state.log) ==
          "W 828 0000000000000000\n"
          "R 828 0000000000000000\n");
  }
  SUBCASE("the value read after the write is what read_esr returns") {
    // The fake keeps the error bits across the write (sticky), standing in for hardware
    // latching the errors into the ESR on that write.
    FakeMsrState state;
    state.set(reg::kEsr.x2apic_msr(), esr::kSendAccept | esr::kReceiveAccept);
    state.sticky_msr = reg::kEsr.x2apic_msr();
    state.sticky_mask = 0xFF;
    X2Apic<FakeMsr> apic{FakeMsr{state}};
    CHECK(apic.read_esr() == (esr::kSendAccept | esr::kReceiveAccept));
    REQUIRE(state.log.count == 2);
    CHECK(state.log.entries[0].kind == AccessKind::kWrite);
    CHECK(state.log.entries[0].value == 0);
    CHECK(state.log.entries[1].kind == AccessKind::kRead);
    CHECK(state.log.entries[1].reg == 0x828u);
  }
}

TEST_CASE("id() reads the full 32-bit x2APIC ID from MSR 0x802") {
  for (uint32_t raw : {0u, 0xFFu, 0x12345u, 0xFFFF'FFFEu}) {
    CAPTURE(raw);
    FakeMsrState state;
    state.set(reg::kId.x2apic_msr(), raw);
    X2Apic<FakeMsr> apic{FakeMsr{state}};
    CHECK(apic.id().value == raw);
    REQUIRE(state.log.count == 1);
    CHECK(state.log.entries[0].kind == AccessKind::kRead);
    CHECK(state.log.entries[0].reg == 0x802u);
  }
}

TEST_CASE("eoi() writes 0 to MSR 0x80B") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  apic.eoi();
  CHECK(trace(state.log) == "W 80B 0000000000000000\n");
}

TEST_CASE("software_enable() writes SVR (MSR 0x80F) with bit 8 and the spurious vector") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  apic.software_enable(0xFF);
  apic.software_enable(0x27);
  CHECK(trace(state.log) ==
        "W 80F 00000000000001FF\n"
        "W 80F 0000000000000127\n");
}

TEST_CASE("x2APIC MSR numbers are 0x800 + xAPIC offset / 16") {
  // SDM 11.12.1.2 "x2APIC Register Address Space", table "Local APIC Register Address Map
  // Supported by x2APIC": one table, each register's MSR derived from its MMIO offset.
  CHECK(reg::kId.x2apic_msr() == 0x802u);
  CHECK(reg::kEoi.x2apic_msr() == 0x80Bu);
  CHECK(reg::kSvr.x2apic_msr() == 0x80Fu);
  CHECK(reg::kEsr.x2apic_msr() == 0x828u);
  CHECK(reg::kIcrLow.x2apic_msr() == 0x830u);
  CHECK(reg::kTimerDivide.x2apic_msr() == 0x83Eu);
  CHECK(reg::kId.xapic_offset == 0x020u);
  CHECK(reg::kIcrLow.xapic_offset == 0x300u);
}

TEST_CASE("the APIC timer through MSRs 0x83E, 0x832, 0x838 (initial count last)") {
  FakeMsrState state;
  X2Apic<FakeMsr> apic{FakeMsr{state}};
  SUBCASE("periodic") {
    apic.start_periodic_timer(0xEC, 100'000);
    CHECK(trace(state.log) ==
          "W 83E 0000000000000003\n"
          "W 832 00000000000200EC\n"
          "W 838 00000000000186A0\n");
  }
  SUBCASE("one-shot") {
    apic.start_one_shot_timer(0xEC, 5);
    CHECK(trace(state.log) ==
          "W 83E 0000000000000003\n"
          "W 832 00000000000000EC\n"
          "W 838 0000000000000005\n");
  }
  SUBCASE("stop") {
    apic.stop_timer();
    CHECK(trace(state.log) ==
          "W 832 0000000000010000\n"
          "W 838 0000000000000000\n");
  }
  SUBCASE("current count is MSR 0x839") {
    state.set(0x839, 77);
    CHECK(apic.timer_current_count() == 77);
    CHECK(trace(state.log) == "R 839 000000000000004D\n");
  }
}
