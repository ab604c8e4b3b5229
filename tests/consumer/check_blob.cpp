// Host check of a trampoline binary against the smpboot headers it was installed with, as a
// kernel's BSP checks it before waking anyone: the magic "SMPT" at offset 8, this layout
// version, its own size, install_trampoline relocating it into a page, and a blob with
// another layout version refused. run_consumer_test.sh builds it with the route's -I.
//   check_blob TRAMPOLINE.bin
#include <smpboot/boot/trampoline.hpp>

#include <stdio.h>
#include <string.h>

using namespace smpboot;

namespace {
int failures = 0;
void check(bool ok, const char* what) {
  printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failures;
}
uint8_t blob[2 * kTrampolineMaxSize];
alignas(4096) uint8_t page[4096];
CpuTable<4> table;
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  FILE* f = fopen(argv[1], "rb");
  if (f == nullptr) return perror(argv[1]), 1;
  const size_t size = fread(blob, 1, sizeof blob, f);
  fclose(f);
  printf("%s: %zu bytes\n", argv[1], size);
  check(size > kTrampolineParamsOffset + 8 && memcmp(blob + 8, "SMPT", 4) == 0,
        "magic \"SMPT\" at offset 8");
  const auto params = read_trampoline_params(blob, size);
  check(params.ok(), "read_trampoline_params accepts it (size within one page)");
  if (!params.ok()) return 1;
  check(params->layout_version == kBootLayoutVersion,
        "layout version is the headers' kBootLayoutVersion");
  check(params->blob_size == size, "its parameter block records its own size");

  check(table.add(ApicId{0}).ok(), "a CPU table with one CPU");
  TrampolineSetup setup;
  setup.cr3 = 0x1000;
  const auto start = install_trampoline(page, 0x8000, blob, size, setup, table);
  check(start.ok() && start->vector() == 0x08, "install_trampoline into page 0x8000");
  TrampolineParams installed;
  memcpy(&installed, page + kTrampolineParamsOffset, sizeof installed);
  check(installed.page_phys == 0x8000 && installed.cr3 == 0x1000 &&
            installed.lm64_offset == params->lm64_offset + 0x8000,
        "the installed copy is relocated for its page");

  blob[kTrampolineParamsOffset + 4] ^= 0xFF;
  check(install_trampoline(page, 0x8000, blob, size, setup, table).error() ==
            Error::kLayoutMismatch,
        "a blob with another layout version is refused");
  return failures == 0 ? 0 : 1;
}
