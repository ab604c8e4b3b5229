// smpboot-inspect: run smpboot's own MADT walker and APIC-ID/topology decoders on tables and
// CPUID dumps taken from a real machine, to see what the library would make of it.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cpuid_dump.hpp"
#include "report.hpp"

namespace {

constexpr const char* kUsage = R"(usage: smpboot-inspect madt FILE
       smpboot-inspect cpuid FILE
       smpboot-inspect --help

Decode hardware descriptions with smpboot's own code and print a tab-separated report.

  madt FILE   FILE is a raw ACPI MADT ("APIC" table) as written by `acpidump -b` (apic.dat)
              or `acpixtract -s APIC`. Prints one row per Local APIC (type 0) and Local
              x2APIC (type 9) entry, in table order:
                index offset type uid apic_id flags enabled online_capable
              then the census smpboot's add_cpus_from_madt takes of them, as '#' lines
              (`# name: value`; a count may be followed by its APIC IDs in parentheses),
              assuming the BSP is the first enabled entry and no max_cpus limit:
                # census: bsp_apic_id= enabled= added= not_added= placeholders= walk=
                # duplicate_apic_ids: repeated enabled entries (the IDs)
                # duplicate_apic_ids_incl_disabled: the same over every non-placeholder entry
                # xapic_unaddressable_apic_ids: enabled IDs above 0xFE (need x2APIC mode)
                # disabled: N
                # online_capable: N
                # broadcast_safe: yes, or no (why): could broadcast INIT/SIPI hit a CPU
                                  outside the table (see broadcast_is_safe)?
              The table is checked first: signature "APIC", Length within the file, checksum,
              and every subtable length. A malformed table prints the rows decoded before the
              problem and the census of those, then one error line on stderr, and exits with
              status 1.

  cpuid FILE  FILE is a CPUID dump in smpboot's text format, one section per logical CPU:
                cpu <index>
                <leaf> <subleaf> <eax> <ebx> <ecx> <edx>      (hex; '#' starts a comment)
              Prints one row per logical CPU: the initial APIC ID (leaf 01H), x2APIC IDs and
              topology levels (0BH, 1FH), AMD 8000001EH/80000008H fields, the ID the CPUID
              chain picks (1FH > 0BH > 01H) and the package / core / SMT IDs decoded from it.
              '-' means the leaf is absent or invalid on that CPU.

Exit status: 0 success, 1 malformed input, 2 usage error or unreadable file.
)";

bool read_file(const char* path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

int inspect_madt(const char* path, const std::string& bytes) {
  auto madt = smpboot::Madt::parse(bytes.data(), bytes.size());
  smpboot::Error header_error = smpboot::Error::kNone;
  if (!madt && (madt.error() == smpboot::Error::kMadtBadChecksum ||
                madt.error() == smpboot::Error::kMadtLengthPastBuffer)) {
    // The entries may still be readable: show those that are, then report the problem.
    header_error = madt.error();
    madt = smpboot::Madt::salvage(bytes.data(), bytes.size());
  }
  if (!madt) {
    std::fprintf(stderr, "smpboot-inspect: %s: not a valid MADT: %s (%zu bytes)\n", path,
                 smpboot::error_name(madt.error()), bytes.size());
    return 1;
  }
  std::string report;
  const smpboot::Status walk = smpboot::tools::madt_report(*madt, report);
  report += smpboot::tools::madt_census_report(*madt, header_error);
  std::fwrite(report.data(), 1, report.size(), stdout);
  std::fflush(stdout);
  if (!walk) {
    std::fprintf(stderr, "smpboot-inspect: %s: malformed MADT subtable list: %s\n", path,
                 smpboot::error_name(walk.error()));
    return 1;
  }
  if (header_error != smpboot::Error::kNone) {
    std::fprintf(stderr, "smpboot-inspect: %s: %s\n", path,
                 header_error == smpboot::Error::kMadtBadChecksum
                     ? "MADT checksum: the table's bytes do not sum to 0 (madt_bad_checksum)"
                     : "MADT Length field is larger than the file (madt_length_past_buffer)");
    return 1;
  }
  return 0;
}

int inspect_cpuid(const char* path, const std::string& text) {
  std::vector<smpboot::tools::CpuidDumpSection> sections;
  smpboot::tools::CpuidDumpError error;
  if (!smpboot::tools::parse_cpuid_dump(text, sections, error)) {
    std::fprintf(stderr, "smpboot-inspect: %s:%zu: %s\n", path, error.line, error.message.c_str());
    return 1;
  }
  const std::string report = smpboot::tools::cpuid_report(sections);
  std::fwrite(report.data(), 1, report.size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc != 3 || (std::strcmp(argv[1], "madt") && std::strcmp(argv[1], "cpuid"))) {
    std::fputs("smpboot-inspect: expected 'madt FILE' or 'cpuid FILE' (see --help)\n", stderr);
    return 2;
  }
  std::string data;
  if (!read_file(argv[2], data)) {
    std::fprintf(stderr, "smpboot-inspect: cannot read %s: %s\n", argv[2], std::strerror(errno));
    return 2;
  }
  return !std::strcmp(argv[1], "madt") ? inspect_madt(argv[2], data) : inspect_cpuid(argv[2], data);
}
