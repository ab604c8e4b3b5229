// Catch2 benchmarks (not tests): the APIC-ID lookup an AP does at 4096 CPUs, one state
// transition, and a whole simulated parallel bringup of 1024 CPUs. Run:
//   build/tests/sim/smpboot-bench            (or: meson test -C build --benchmark)
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_ENABLE_BENCHMARKING
#include <catch2/catch.hpp>

#include <memory>
#include <random>

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
  BENCHMARK("offline->kicked->alive->online->going_down->offline (5 CAS)") {
    (void)r.transition(CpuState::kOffline, CpuState::kKicked);
    (void)r.transition(CpuState::kKicked, CpuState::kAlive);
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
        sim::g_controller_id.store(0);
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
