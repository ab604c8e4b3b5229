// libFuzzer target: ACPI discovery (discovery/acpi.hpp) over arbitrary bytes taken as physical
// memory. The input lies at physical 0xE0000 (the BIOS area the RSDP search scans, zero past
// the input's end) and appears again at 4 GiB + 0xE0000, so 64-bit XSDT entries reach it too;
// every other address is unmapped. Each mapping is handed out as its own exact-size heap copy,
// so a read past what the mapping function returned is a heap overflow ASan reports.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <smpboot/discovery/acpi.hpp>
#include <smpboot/discovery/madt.hpp>

namespace {
constexpr uint64_t kBase = 0xE0000;
constexpr uint64_t kWindow = 0x20000;
constexpr uint64_t kHighAlias = 0x1'0000'0000ull;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kWindow) size = kWindow;
  std::vector<std::unique_ptr<uint8_t[]>> mappings;
  uint64_t mapped_bytes = 0;
  auto map = [&](uint64_t phys, uint32_t length) -> const uint8_t* {
    if (phys >= kHighAlias) phys -= kHighAlias;
    if (phys < kBase || phys - kBase > kWindow || length > kWindow - (phys - kBase)) {
      return nullptr;
    }
    if (length == 0 || (mapped_bytes += length) > (64u << 20)) return nullptr;
    auto copy = std::make_unique<uint8_t[]>(length);
    const uint64_t at = phys - kBase;
    const uint64_t have = at < size ? (size - at < length ? size - at : length) : 0;
    std::memset(copy.get(), 0, length);
    if (have) std::memcpy(copy.get(), data + at, have);
    mappings.push_back(std::move(copy));
    return mappings.back().get();
  };
  auto rsdp = smpboot::find_rsdp_in_bios_areas(map);
  if (!rsdp) return 0;
  for (auto choice : {smpboot::AcpiRootChoice::kPreferXsdt, smpboot::AcpiRootChoice::kRsdt}) {
    auto root = smpboot::load_root_table(map, *rsdp, choice);
    if (!root) continue;
    if (root->count() > root->table().length / 4) __builtin_trap();
    for (uint32_t i = 0; i < root->count(); ++i) (void)smpboot::load_acpi_table(map, root->entry_phys(i));
    if (auto apic = smpboot::find_acpi_table(map, *root, "APIC")) {
      if (apic->length < 36) __builtin_trap();
      if (auto madt = smpboot::Madt::parse(apic->bytes, apic->length)) {
        (void)madt->for_each_cpu([](const smpboot::MadtCpuEntry&) {});
      }
    }
    const uint32_t ssdts = smpboot::count_acpi_tables(map, *root, "SSDT");
    if (ssdts > root->count()) __builtin_trap();
    (void)smpboot::find_acpi_table(map, *root, "SSDT", 1);
  }
  return 0;
}
