// libFuzzer target: the MADT walker and everything that consumes its output must accept any
// bytes without reading outside them, looping or crashing (ASan/UBSan watch).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy, so any read past the end is a heap overflow ASan reports.
  std::vector<uint8_t> bytes(data, data + size);
  static auto* table = new smpboot::CpuTable<256>();
  if (auto madt = smpboot::Madt::salvage(bytes.data(), bytes.size())) {
    std::string report;
    (void)smpboot::tools::madt_report(*madt, report);
    (void)madt->local_apic_phys();
    table->clear();
    const auto census = smpboot::add_cpus_from_madt(*table, *madt, smpboot::ApicId{0}, 64);
    if (table->size() > 64 || census.added > 64) __builtin_trap();
  }
  auto strict = smpboot::Madt::parse(bytes.data(), bytes.size());
  if (strict) {
    uint32_t n = 0;
    (void)strict->for_each_cpu([&](const smpboot::MadtCpuEntry&) { ++n; });
    if (n > size / 8) __builtin_trap();  // an entry is at least 8 bytes
  }
  return 0;
}
