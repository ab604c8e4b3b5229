// The INIT/SIPI/SIPI sequences of wake/init_sipi.hpp against the recording fakes: what goes out
// on the ICR and the ESR, in which order, with which delays between (SDM Vol. 3A 9.4.4.1), for
// each WakeTarget and each way of sending (serial, phased, broadcast), and what each leaves in
// the boot records.
#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>

#include <smpboot/apic/x2apic.hpp>
#include <smpboot/apic/xapic.hpp>
#include <smpboot/percpu/cpu_table.hpp>
#include <smpboot/testing/fakes.hpp>
#include <smpboot/wake/init_sipi.hpp>

using namespace smpboot;
using namespace smpboot::testing;

namespace {

constexpr uint32_t kIcrMsr = 0x830, kEsrMsr = 0x828;  // x2APIC MSRs (SDM 11.12.1.2)

StartPage page() { return StartPage::from_phys(0x8000).value(); }

// A Clock that notes where in the MSR traffic each delay fell, and can play an AP that starts
// during the delay after its first STARTUP (wake_sent -> alive, as ap_main does).
struct TracingClock {
  const FakeMsrState* msrs;
  CpuRecord* starts_after_first_startup = nullptr;
  uint64_t now = 0;
  uint32_t delay_at[16] = {};
  uint64_t delay_len[16] = {};
  uint32_t delays = 0;
  uint64_t now_us() noexcept { return ++now; }
  void delay_us(uint64_t us) noexcept {
    if (delays == 1 && starts_after_first_startup != nullptr) {
      (void)starts_after_first_startup->transition(CpuState::kWakeSent, CpuState::kAlive);
    }
    if (delays < 16) delay_at[delays] = msrs->log.count, delay_len[delays] = us;
    ++delays;
    now += us;
  }
};
static_assert(Clock<TracingClock>);

// The x2APIC traffic as one line per event: "esr-clear", "esr=<bits>", "INIT <dest>",
// "INIT-deassert <dest>", "STARTUP <dest> <vector>", "delay <us>"; a shorthand destination is
// "all-but-self".
std::string trace(const FakeMsrState& s, const TracingClock& clock) {
  std::string out;
  char line[64];
  uint32_t next_delay = 0;
  for (uint32_t i = 0; i <= s.log.count; ++i) {
    while (next_delay < clock.delays && clock.delay_at[next_delay] == i) {
      std::snprintf(line, sizeof line, "delay %llu\n",
                    static_cast<unsigned long long>(clock.delay_len[next_delay++]));
      out += line;
    }
    if (i == s.log.count) break;
    const Access& a = s.log.entries[i];
    if (a.reg == kEsrMsr) {
      if (a.kind == AccessKind::kWrite) continue;  // the write half of reading the ESR
      std::snprintf(line, sizeof line, "esr=%llx\n", static_cast<unsigned long long>(a.value));
      out += line;
      continue;
    }
    if (a.kind != AccessKind::kWrite || a.reg != kIcrMsr) continue;
    const auto low = uint32_t(a.value), dest = uint32_t(a.value >> 32);
    const uint32_t mode = (low >> 8) & 7, shorthand = (low >> 18) & 3;
    const bool deassert = ((low >> 14) & 1) == 0;
    char to[24];
    if (shorthand == 3) std::snprintf(to, sizeof to, "all-but-self");
    else std::snprintf(to, sizeof to, "%u", dest);
    if (mode == 5) std::snprintf(line, sizeof line, "%s %s\n", deassert ? "INIT-deassert" : "INIT", to);
    else if (mode == 6) std::snprintf(line, sizeof line, "STARTUP %s %02x\n", to, low & 0xFF);
    else std::snprintf(line, sizeof line, "ICR %08x %s\n", low, to);
    out += line;
  }
  return out;
}

template <uint32_t N>
void fill(CpuTable<N>& t, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) REQUIRE(t.add(ApicId{i}).ok());
  t[0].flags |= kCpuFlagFirmwareBsp;
  t[0].state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
}

auto every_ap = [](const CpuRecord& r) { return r.index != 0; };

struct X2ApicBench {
  FakeMsrState msrs;
  X2Apic<FakeMsr> apic{FakeMsr{msrs}};
  TracingClock clock{&msrs};
  std::string trace() const { return ::trace(msrs, clock); }
};

}  // namespace

TEST_CASE("WakeTarget: one APIC ID, or all-excluding-self with the SDM's golden values") {
  CHECK(WakeTarget::one(ApicId{7}).init_assert() == IpiCommand::init_assert(ApicId{7}));
  CHECK(WakeTarget::one(ApicId{7}).startup(page()) == IpiCommand::startup(ApicId{7}, page()));
  CHECK(icr::encode_low(WakeTarget::all_excluding_self().init_assert()) == 0x000C4500u);
  CHECK(icr::encode_low(WakeTarget::all_excluding_self().init_deassert()) == 0x000C8500u);
  CHECK(icr::encode_low(WakeTarget::all_excluding_self().startup(page())) == 0x000C4608u);
}

TEST_CASE("one target: ESR cleared, INIT, delay, STARTUP, delay, STARTUP, delay, ESR read") {
  struct Case {
    const char* what;
    WakeTarget target;
    WakeDelays delays;
    const char* expected;
  };
  const Case cases[] = {
      {"modern delays: no de-assert, no INIT delay", WakeTarget::one(ApicId{5}), kModernDelays,
       "esr=0\nINIT 5\nSTARTUP 5 08\ndelay 10\nSTARTUP 5 08\ndelay 10\nesr=0\n"},
      {"spec delays: the MP-spec sequence with its de-assert and 10 ms",
       WakeTarget::one(ApicId{5}), kSpecDelays,
       "esr=0\nINIT 5\nINIT-deassert 5\ndelay 10000\n"
       "STARTUP 5 08\ndelay 200\nSTARTUP 5 08\ndelay 200\nesr=0\n"},
      {"all-excluding-self: every IPI carries the shorthand, de-assert included",
       WakeTarget::all_excluding_self(), kSpecDelays,
       "esr=0\nINIT all-but-self\nINIT-deassert all-but-self\ndelay 10000\n"
       "STARTUP all-but-self 08\ndelay 200\nSTARTUP all-but-self 08\ndelay 200\nesr=0\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    X2ApicBench b;
    uint32_t esr = 99;
    CHECK(send_init_startup_startup(b.apic, b.clock, c.target, page(), c.delays, esr).ok());
    CHECK(b.trace() == c.expected);
    CHECK(esr == 0);
  }
}

TEST_CASE("a non-zero ESR after the sequence is a delivery error with its bits") {
  FakeMmioState mmio;
  mmio.on_read = [](FakeMmioState&, uint32_t offset, uint32_t stored) {
    return offset == 0x280 ? esr::kSendAccept : stored;  // ESR (SDM 11.5.3)
  };
  XApic<FakeMmio> apic{FakeMmio{mmio}};
  FakeClock clock;
  auto table = std::make_unique<CpuTable<4>>();
  fill(*table, 2);
  CpuRecord& ap = (*table)[1];
  CHECK(wake_ap_init_sipi(apic, clock, ap, page(), kModernDelays).error() ==
        Error::kDeliveryError);
  CHECK(ap.load_state() == CpuState::kFailed);
  CHECK(ap.error == Error::kDeliveryError);
  CHECK(ap.esr == esr::kSendAccept);
}

TEST_CASE("serial refusals: the firmware BSP gets no INIT, a too-wide ID fails its record") {
  auto table = std::make_unique<CpuTable<4>>();
  SUBCASE("firmware BSP: kInitToBsp, no register access, record untouched") {
    fill(*table, 2);
    CpuRecord& bsp = (*table)[0];
    bsp.state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);  // parked CPU0
    X2ApicBench b;
    CHECK(wake_ap_init_sipi(b.apic, b.clock, bsp, page(), kModernDelays).error() ==
          Error::kInitToBsp);
    CHECK(b.msrs.log.count == 0);
    CHECK(bsp.load_state() == CpuState::kOffline);
  }
  SUBCASE("xAPIC and an ID above 0xFE: kDestinationTooWide in the record, nothing sent") {
    REQUIRE(table->add(ApicId{0}).ok());
    REQUIRE(table->add(ApicId{0x100}).ok());
    FakeMmioState mmio;
    XApic<FakeMmio> apic{FakeMmio{mmio}};
    FakeClock clock;
    CpuRecord& ap = (*table)[1];
    CHECK(wake_ap_init_sipi(apic, clock, ap, page(), kModernDelays).error() ==
          Error::kDestinationTooWide);
    CHECK(ap.load_state() == CpuState::kFailed);
    CHECK(ap.error == Error::kDestinationTooWide);
    CHECK(mmio.log.writes_to(0x300) == 0);  // no ICR write; the only access reads the
    CHECK(mmio.log.writes_to(0x310) == 0);  // caller's own APIC ID (the record's controller)
  }
}

TEST_CASE("phased: every INIT, one INIT delay, then each STARTUP round to the APs still waiting") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 4);
  X2ApicBench b;
  b.clock.starts_after_first_startup = &(*table)[2];  // AP 2 starts on its first STARTUP
  const uint32_t esr =
      wake_aps_phased(*table, b.apic, b.clock, page(), kSpecDelays, every_ap);
  CHECK(esr == 0);
  CHECK(b.trace() ==
        "esr=0\n"
        "INIT 1\n"
        "INIT-deassert 1\n"
        "INIT 2\n"
        "INIT-deassert 2\n"
        "INIT 3\n"
        "INIT-deassert 3\n"
        "delay 10000\n"
        "STARTUP 1 08\n"
        "STARTUP 2 08\n"
        "STARTUP 3 08\n"
        "delay 200\n"
        "STARTUP 1 08\n"
        "STARTUP 3 08\n"
        "delay 200\n"
        "esr=0\n");
  CHECK((*table)[1].load_state() == CpuState::kWakeSent);
  CHECK((*table)[2].load_state() == CpuState::kAlive);
}

TEST_CASE("phased: the firmware BSP is skipped even when the caller would wake it") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 2);
  (*table)[0].state.store(uint32_t(CpuState::kOffline), MemoryOrder::kRelaxed);
  X2ApicBench b;
  (void)wake_aps_phased(*table, b.apic, b.clock, page(), kModernDelays,
                        [](const CpuRecord&) { return true; });
  CHECK(b.trace().find(" 0\n") == std::string::npos);  // nothing to APIC ID 0
  CHECK(b.trace().find("INIT 1\n") != std::string::npos);
  CHECK((*table)[0].load_state() == CpuState::kOffline);
}

TEST_CASE("phased with nothing to wake sends no IPI and pays no delay") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 3);
  X2ApicBench b;
  (void)wake_aps_phased(*table, b.apic, b.clock, page(), kSpecDelays,
                        [](const CpuRecord&) { return false; });
  CHECK(b.trace() == "esr=0\nesr=0\n");
}

TEST_CASE("broadcast: refused while an AP runs; a failed sequence fails every wake_sent record") {
  auto table = std::make_unique<CpuTable<8>>();
  fill(*table, 4);
  uint32_t esr = 0;
  SUBCASE("an AP online: kBroadcastWhileRunning, nothing sent, no record moved") {
    (*table)[2].state.store(uint32_t(CpuState::kOnline), MemoryOrder::kRelaxed);
    X2ApicBench b;
    CHECK(wake_aps_broadcast(*table, b.apic, b.clock, page(), kModernDelays, every_ap,
                             esr).error() == Error::kBroadcastWhileRunning);
    CHECK(b.msrs.log.count == 0);
    CHECK((*table)[1].load_state() == CpuState::kOffline);
  }
  SUBCASE("ICR stuck busy (xAPIC): every woken record fails with kIcrBusyTimeout") {
    FakeMmioState mmio;
    mmio.on_read = [](FakeMmioState&, uint32_t offset, uint32_t stored) {
      return offset == 0x300 ? stored | (1u << 12) : stored;  // ICR low, delivery status
    };
    XApic<FakeMmio> apic{FakeMmio{mmio}};
    FakeClock clock;
    CHECK(wake_aps_broadcast(*table, apic, clock, page(), kModernDelays, every_ap, esr)
              .error() == Error::kIcrBusyTimeout);
    for (uint32_t i = 1; i < 4; ++i) {
      CAPTURE(i);
      CHECK((*table)[i].load_state() == CpuState::kFailed);
      CHECK((*table)[i].error == Error::kIcrBusyTimeout);
    }
    CHECK((*table)[0].load_state() == CpuState::kOnline);
  }
  SUBCASE("sent: every woken record wake_sent, one shorthand sequence") {
    X2ApicBench b;
    CHECK(wake_aps_broadcast(*table, b.apic, b.clock, page(), kModernDelays, every_ap,
                             esr).ok());
    for (uint32_t i = 1; i < 4; ++i) CHECK((*table)[i].load_state() == CpuState::kWakeSent);
    CHECK(b.trace() ==
          "esr=0\n"
          "INIT all-but-self\n"
          "STARTUP all-but-self 08\n"
          "delay 10\n"
          "STARTUP all-but-self 08\n"
          "delay 10\n"
          "esr=0\n");
  }
}
