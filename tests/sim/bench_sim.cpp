// Catch2 benchmarks (not tests): the APIC-ID lookup an AP does at 4096 CPUs, one state
// transition, a whole simulated parallel bringup of 1024 CPUs, and turning a 10,000-entry MADT
// into a 1024-CPU table when most CPUs are left out. Run:
//   build/tests/sim/smpboot-bench            (or: meson test -C build --benchmark)
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#include <catch2/catch.hpp>

#include <smpboot/discovery/madt_cpus.hpp>

#include <memory>
#include <random>
#include <vector>

#include "sim_machine.hpp"

using namespace smpboot;

TEST_CASE("APIC-ID lookup at 4096 CPUs", "[bench]") {
  auto table = std::make_unique<CpuTable<4096>>();
  std::mt19937 rng(42);
  std::vector<uint32_t> ids;
  while (ids.size() < 4096) {
    const uint32_t id = rng() & 0x00FF'FFFFu;
    if (table->add(ApicId{id})) ids.push_back(id);
  }
  size_t i = 0;
  BENCHMARK("find(random present ID), sparse 24-bit IDs") {
    return table->find(ApicId{ids[i++ & 4095]}).value().value;
  };
  auto dense = std::make_unique<CpuTable<4096>>();
  for (uint32_t id = 0; id < 4096; ++id) (void)dense->add(ApicId{id});
  BENCHMARK("find(random present ID), dense IDs 0..4095") {
    return dense->find(ApicId{uint32_t(i++ & 4095)}).value().value;
  };
  BENCHMARK("find(absent ID)") { return table->find(ApicId{0xFF00'0000u + uint32_t(i++)}).ok(); };
}

TEST_CASE("one state transition", "[bench]") {
  CpuRecord r;
  BENCHMARK("offline->wake_sent->alive->online->going_down->offline (5 CAS)") {
    (void)r.transition(CpuState::kOffline, CpuState::kWakeSent);
    (void)r.transition(CpuState::kWakeSent, CpuState::kAlive);
    (void)r.transition(CpuState::kAlive, CpuState::kOnline);
    (void)r.transition(CpuState::kOnline, CpuState::kGoingDown);
    return r.transition(CpuState::kGoingDown, CpuState::kOffline).ok();
  };
}

TEST_CASE("simulated parallel bringup of 1024 CPUs", "[bench]") {
  BENCHMARK_ADVANCED("1024 CPUs, x2APIC, parallel, threads as CPUs")(Catch::Benchmark::Chronometer meter) {
    std::vector<sim::CpuConfig> cpus(1024);
    for (uint32_t i = 0; i < 1024; ++i) cpus[i].register_id = i == 0 ? 0 : 0x100u + i;
    sim::Machine::Options o;
    o.apic = sim::Machine::Mode::kX2Apic;
    sim::Machine m(cpus, o);
    BringupReport report;
    meter.measure([&] {
      m.run_on_bsp([&] {
        for (uint32_t i = 0; i < 1024; ++i) (void)m.table().add(ApicId{cpus[i].register_id});
        m.prepare_records();
        (void)mark_bsp_online(m.table()[0], sim::SimClock{}.now_us(), true);
        m.with_apic(sim::t_cpu, [&](auto& apic) {
          sim::SimClock clock;
          sim::SimWaiter waiter;
          BringupOptions opt;
          opt.delays = kModernDelays;
          opt.delays.after_sipi_us = 0;
          report = bring_up_aps(m.table(), apic, clock, waiter, StartPage::from_phys(0x8000).value(), opt);
          return 0;
        });
      });
    });
    if (report.online != 1024) FAIL("not every simulated CPU came online");
  };
}

// A MADT of `count` enabled Local x2APIC entries (ACPI 6.5, 5.2.12.12) with APIC IDs 0..count-1,
// so with an SMT shift of 1 every even ID is a primary thread and every odd one its sibling.
static std::vector<uint8_t> x2apic_madt(uint32_t count) {
  std::vector<uint8_t> t(madt::kMadtFixedLength, 0);
  t[0] = 'A', t[1] = 'P', t[2] = 'I', t[3] = 'C', t[8] = 5;
  auto put32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) t.push_back(uint8_t(v >> (8 * i))); };
  for (uint32_t id = 0; id < count; ++id) {
    t.insert(t.end(), {9, 16, 0, 0});
    put32(id);
    put32(madt::kFlagEnabled);
    put32(id);
  }
  for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(t.size() >> (8 * i));
  uint8_t sum = 0;
  for (uint8_t b : t) sum = uint8_t(sum + b);
  t[9] = uint8_t(0x100 - sum);
  return t;
}

TEST_CASE("add_cpus_from_madt: 10,000 x2APIC entries into CpuTable<1024>", "[bench]") {
  const std::vector<uint8_t> bytes = x2apic_madt(10'000);
  const Madt madt = Madt::parse(bytes.data(), bytes.size()).value();
  auto table = std::make_unique<CpuTable<1024>>();
  Topology smt;
  smt.smt_shift = 1;
  smt.package_shift = 16;
  auto run = [&](uint32_t max_cpus, const Topology* topology) {
    table->clear();
    return add_cpus_from_madt(*table, madt, ApicId{0}, max_cpus, topology).enabled;
  };
  if (run(64, nullptr) != 10'000 || run(1024, &smt) != 10'000) FAIL("census miscounted");
  BENCHMARK("max_cpus 64: 9,936 left out") { return run(64, nullptr); };
  BENCHMARK("table capacity: 8,976 left out") { return run(1024, nullptr); };
  BENCHMARK("SMT, siblings last: 8,976 left out") { return run(1024, &smt); };
}
