// libFuzzer target: the CPUID-dump reader and the APIC-ID / topology decoders behind
// `smpboot-inspect cpuid` must handle any text: a clear error or a report, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cpuid_dump.hpp"
#include "report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<smpboot::tools::CpuidDumpSection> sections;
  smpboot::tools::CpuidDumpError error;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (smpboot::tools::parse_cpuid_dump(text, sections, error)) {
    (void)smpboot::tools::cpuid_report(sections);
  } else if (error.message.empty()) {
    __builtin_trap();  // every refusal must say why
  }
  return 0;
}
