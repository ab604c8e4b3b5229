// ACPI discovery up to a table: find and validate the RSDP (ACPI 6.5, 5.2.5 "Root System
// Description Pointer (RSDP)"), walk the XSDT (5.2.8) or the RSDT (5.2.7), and find a table by
// its signature, checking every header (5.2.6 "System Description Table Header": Length and
// checksum). All memory is reached through a caller-given mapping function and every read is
// bounds-checked against what it returned; no allocation, typed errors. It does not parse any
// table's body (the MADT walker is discovery/madt.hpp) nor the FADT, and it never writes.
//
// From the RSDP to the MADT (`map` is yours: physical address and length in, pointer out):
//
//   auto map = [](uint64_t phys, uint32_t length) -> const uint8_t* {
//     return phys + length <= kDirectMapLimit ? phys_to_virt(phys) : nullptr;
//   };
//   auto rsdp = find_rsdp_in_bios_areas(map);   // UEFI: parse_rsdp(mb2_acpi_tag, size)
//   if (!rsdp) return rsdp.error();              // rsdp_not_found, rsdp_bad_checksum, ...
//   auto apic = find_acpi_table(map, *rsdp, "APIC");   // XSDT if there is one, else RSDT
//   if (!apic) return apic.error();              // acpi_table_not_found, ..._bad_checksum
//   auto madt = Madt::parse(apic->bytes, apic->length);
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/bits.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"

namespace smpboot {

namespace acpi {
// RSDP layout (ACPI 6.5, 5.2.5.3 "Root System Description Pointer (RSDP) Structure", Table 5.3).
inline constexpr uint32_t kRsdpV1Length = 20;  // the bytes the ACPI 1.0 checksum covers
inline constexpr uint32_t kRsdpV2Length = 36;  // the whole ACPI 2.0+ structure
// Length is a 32-bit field; the structure has been 36 bytes since ACPI 2.0. A Length beyond
// one page is taken as garbage rather than summed over.
inline constexpr uint32_t kRsdpMaxLength = 4096;
inline constexpr uint32_t kRsdpOffsetChecksum = 8;
inline constexpr uint32_t kRsdpOffsetOemId = 9;
inline constexpr uint32_t kRsdpOffsetRevision = 15;
inline constexpr uint32_t kRsdpOffsetRsdtAddress = 16;
inline constexpr uint32_t kRsdpOffsetLength = 20;
inline constexpr uint32_t kRsdpOffsetXsdtAddress = 24;
inline constexpr uint32_t kRsdpOffsetExtendedChecksum = 32;
// "Revision: ... 0 for ACPI 1.0 ... 2 for ACPI 2.0 and later": the extended fields exist from 2.
inline constexpr uint8_t kRsdpFirstExtendedRevision = 2;

// Where a BIOS places the RSDP (5.2.5.1 "Finding the RSDP on IA-PC Systems"): on a 16-byte
// boundary in the first KiB of the EBDA, whose 16-bit segment is stored at physical 0x40E in
// the BIOS data area, or in the read-only BIOS area 0xE0000-0xFFFFF.
inline constexpr uint64_t kBdaEbdaSegmentPhys = 0x40E;
inline constexpr uint32_t kEbdaScanLength = 1024;
inline constexpr uint64_t kBiosAreaPhys = 0xE0000;
inline constexpr uint32_t kBiosAreaLength = 0x20000;
inline constexpr uint32_t kRsdpAlignment = 16;
// An EBDA segment is only believed if the EBDA's first KiB lies between the end of the BDA
// and the start of the video area (0xA0000); anything else is a BDA that was never filled.
inline constexpr uint64_t kEbdaLowestPhys = 0x500;
inline constexpr uint64_t kEbdaHighestEnd = 0xA0000;

// System description table header (5.2.6, Table 5.4).
inline constexpr uint32_t kTableHeaderLength = 36;
inline constexpr uint32_t kTableOffsetLength = 4;
inline constexpr uint32_t kTableOffsetRevision = 8;
inline constexpr uint32_t kTableOffsetChecksum = 9;
inline constexpr uint32_t kTableOffsetOemId = 10;
// RSDT entries are 32-bit physical addresses (5.2.7), XSDT entries 64-bit (5.2.8); both start
// right after the header.
inline constexpr uint32_t kRsdtEntrySize = 4;
inline constexpr uint32_t kXsdtEntrySize = 8;
}  // namespace acpi

// A four-character table signature ("APIC", "FACP", "HPET", ...), built from a string literal.
struct AcpiSignature {
  uint8_t bytes[4] = {};

  constexpr AcpiSignature() noexcept = default;
  constexpr AcpiSignature(const char (&text)[5]) noexcept  // NOLINT: implicit from "APIC"
      : bytes{uint8_t(text[0]), uint8_t(text[1]), uint8_t(text[2]), uint8_t(text[3])} {}

  constexpr bool matches(const uint8_t* p) const noexcept {
    return p[0] == bytes[0] && p[1] == bytes[1] && p[2] == bytes[2] && p[3] == bytes[3];
  }
  constexpr bool operator==(const AcpiSignature&) const = default;
};

// The mapping function: `const uint8_t* map(uint64_t phys, uint32_t length)` returns a pointer
// through which `length` bytes at `phys` can be read, or nullptr when it cannot map them. The
// library keeps the pointers it got (an AcpiTable's bytes, the root table's entries) and may
// map again before using an earlier one: each mapping must stay valid while the objects built
// from it are used (a direct map does this; a single reusable window does not).
template <class Map>
concept AcpiMapper = requires(Map& map, uint64_t phys, uint32_t length) {
  { map(phys, length) } -> SameAs<const uint8_t*>;
};

// A validated RSDP. `phys` is where it was found (0 when parsed from a copy, e.g. the
// Multiboot2 ACPI tags, which hold the structure itself).
struct Rsdp {
  uint64_t phys = 0;
  uint8_t revision = 0;       // 0: ACPI 1.0 (no XSDT fields); 2 and up: ACPI 2.0+
  uint8_t oem_id[6] = {};
  uint32_t rsdt_phys = 0;
  uint32_t length = acpi::kRsdpV1Length;  // the Length field from revision 2, else 20
  uint64_t xsdt_phys = 0;     // 0 below revision 2

  constexpr bool has_xsdt() const noexcept {
    return revision >= acpi::kRsdpFirstExtendedRevision && xsdt_phys != 0;
  }
};

// A table whose header was checked: at least 36 bytes, its Length mapped, bytes summing to 0.
// bytes[0..length) is the whole table, header included (what Madt::parse takes).
struct AcpiTable {
  uint64_t phys = 0;
  const uint8_t* bytes = nullptr;
  uint32_t length = 0;

  constexpr AcpiSignature signature() const noexcept {
    AcpiSignature s;
    for (int i = 0; i < 4; ++i) s.bytes[i] = bytes[i];
    return s;
  }
  constexpr uint8_t revision() const noexcept { return bytes[acpi::kTableOffsetRevision]; }
};

namespace detail {
constexpr uint8_t acpi_sum(const uint8_t* p, uint32_t n) noexcept {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum = uint8_t(sum + p[i]);
  return sum;
}
constexpr bool is_rsdp_signature(const uint8_t* p) noexcept {
  constexpr char kSig[] = "RSD PTR ";
  for (int i = 0; i < 8; ++i) {
    if (p[i] != uint8_t(kSig[i])) return false;
  }
  return true;
}
}  // namespace detail

// Validates an RSDP held in memory: signature "RSD PTR ", the ACPI 1.0 checksum over the first
// 20 bytes and, from revision 2, a Length of at least 36 that fits `size` and the extended
// checksum over Length bytes (5.2.5.3). `size` is how many bytes may be read at `bytes`.
constexpr Result<Rsdp> parse_rsdp(const uint8_t* bytes, size_t size,
                                  uint64_t phys = 0) noexcept {
  if (bytes == nullptr || size < acpi::kRsdpV1Length) return Error::kRsdpTooShort;
  if (!detail::is_rsdp_signature(bytes)) return Error::kRsdpBadSignature;
  if (detail::acpi_sum(bytes, acpi::kRsdpV1Length) != 0) return Error::kRsdpBadChecksum;
  Rsdp r;
  r.phys = phys;
  r.revision = bytes[acpi::kRsdpOffsetRevision];
  for (uint32_t i = 0; i < 6; ++i) r.oem_id[i] = bytes[acpi::kRsdpOffsetOemId + i];
  r.rsdt_phys = load_le32(bytes + acpi::kRsdpOffsetRsdtAddress);
  if (r.revision >= acpi::kRsdpFirstExtendedRevision) {
    if (size < acpi::kRsdpV2Length) return Error::kRsdpTooShort;
    const uint32_t length = load_le32(bytes + acpi::kRsdpOffsetLength);
    if (length < acpi::kRsdpV2Length || length > acpi::kRsdpMaxLength) {
      return Error::kRsdpBadLength;
    }
    if (length > size) return Error::kRsdpTooShort;
    if (detail::acpi_sum(bytes, length) != 0) return Error::kRsdpBadExtendedChecksum;
    r.length = length;
    r.xsdt_phys = load_le64(bytes + acpi::kRsdpOffsetXsdtAddress);
  }
  return r;
}

// Validates the RSDP at a known physical address (an EFI configuration table entry, a boot
// loader's pointer): maps 20 bytes, and from revision 2 its Length.
template <AcpiMapper Map>
Result<Rsdp> load_rsdp(Map&& map, uint64_t phys) noexcept {
  const uint8_t* head = map(phys, acpi::kRsdpV1Length);
  if (head == nullptr) return Error::kRsdpUnmapped;
  auto v1 = parse_rsdp(head, acpi::kRsdpV1Length, phys);
  if (v1.error() != Error::kRsdpTooShort) return v1;  // revision 0, or a bad 1.0 part
  const uint8_t* fixed = map(phys, acpi::kRsdpV2Length);
  if (fixed == nullptr) return Error::kRsdpUnmapped;
  const uint32_t length = load_le32(fixed + acpi::kRsdpOffsetLength);
  if (length < acpi::kRsdpV2Length || length > acpi::kRsdpMaxLength) return Error::kRsdpBadLength;
  const uint8_t* all = map(phys, length);
  if (all == nullptr) return Error::kRsdpUnmapped;
  return parse_rsdp(all, length, phys);
}

// Scans `length` bytes mapped at `phys` for a valid RSDP on 16-byte boundaries. A candidate
// with the signature but a bad checksum or length is skipped (a stale copy may precede the
// real one); if no candidate is valid, the first candidate's error is returned, or
// kRsdpNotFound when no signature was seen at all.
template <AcpiMapper Map>
Result<Rsdp> scan_for_rsdp(Map&& map, uint64_t phys, uint32_t length) noexcept {
  const uint8_t* area = map(phys, length);
  if (area == nullptr) return Error::kRsdpNotFound;
  Error first = Error::kRsdpNotFound;
  for (uint32_t at = 0; at + 8 <= length; at += acpi::kRsdpAlignment) {
    if (!detail::is_rsdp_signature(area + at)) continue;
    auto r = load_rsdp(map, phys + at);
    if (r) return r;
    if (first == Error::kRsdpNotFound) first = r.error();
  }
  return first;
}

// The BIOS search of 5.2.5.1: the first KiB of the EBDA (segment at 0x40E, ignored when it
// points outside low memory or cannot be mapped), then 0xE0000-0xFFFFF. UEFI systems give the
// RSDP through the EFI system table (or a boot loader's tag) instead: use load_rsdp/parse_rsdp.
template <AcpiMapper Map>
Result<Rsdp> find_rsdp_in_bios_areas(Map&& map) noexcept {
  Error first = Error::kRsdpNotFound;
  if (const uint8_t* bda = map(acpi::kBdaEbdaSegmentPhys, 2)) {
    const uint64_t ebda = uint64_t(bda[0] | bda[1] << 8) << 4;
    if (ebda >= acpi::kEbdaLowestPhys && ebda + acpi::kEbdaScanLength <= acpi::kEbdaHighestEnd) {
      auto r = scan_for_rsdp(map, ebda, acpi::kEbdaScanLength);
      if (r) return r;
      first = r.error();
    }
  }
  auto r = scan_for_rsdp(map, acpi::kBiosAreaPhys, acpi::kBiosAreaLength);
  if (r || first == Error::kRsdpNotFound) return r;
  return first;
}

// Maps a table's header, then its whole Length, and checks it (5.2.6): Length >= 36, every
// byte mappable, checksum 0. The signature is the caller's business (find_acpi_table).
template <AcpiMapper Map>
Result<AcpiTable> load_acpi_table(Map&& map, uint64_t phys) noexcept {
  if (phys == 0) return Error::kAcpiTableUnmapped;
  const uint8_t* header = map(phys, acpi::kTableHeaderLength);
  if (header == nullptr) return Error::kAcpiTableUnmapped;
  const uint32_t length = load_le32(header + acpi::kTableOffsetLength);
  if (length < acpi::kTableHeaderLength) return Error::kAcpiTableTooShort;
  const uint8_t* bytes = map(phys, length);
  if (bytes == nullptr) return Error::kAcpiTableUnmapped;
  if (detail::acpi_sum(bytes, length) != 0) return Error::kAcpiTableBadChecksum;
  return AcpiTable{phys, bytes, length};
}

// The XSDT or the RSDT, checked, with its entries' width. entry_phys(i) for i < count().
class AcpiRootTable {
 public:
  constexpr AcpiRootTable() noexcept = default;
  constexpr AcpiRootTable(AcpiTable table, uint32_t entry_size) noexcept
      : table_(table), entry_size_(entry_size) {}

  constexpr const AcpiTable& table() const noexcept { return table_; }
  constexpr bool is_xsdt() const noexcept { return entry_size_ == acpi::kXsdtEntrySize; }
  constexpr uint32_t count() const noexcept {
    return entry_size_ ? (table_.length - acpi::kTableHeaderLength) / entry_size_ : 0;
  }
  constexpr uint64_t entry_phys(uint32_t i) const noexcept {
    if (i >= count()) return 0;
    const uint8_t* p = table_.bytes + acpi::kTableHeaderLength + i * entry_size_;
    return entry_size_ == acpi::kXsdtEntrySize ? load_le64(p) : uint64_t{load_le32(p)};
  }

 private:
  AcpiTable table_{};
  uint32_t entry_size_ = 0;
};

enum class AcpiRootChoice : uint8_t {
  kPreferXsdt,  // the XSDT when the RSDP has one (5.2.5: an ACPI 2.0+ OS uses it), else the RSDT
  kRsdt,        // the RSDT even if there is an XSDT (e.g. to retry when the XSDT is broken)
};

// Loads and checks the root table: its header (load_acpi_table), its signature ("XSDT" or
// "RSDT") and that (Length - 36) is a whole number of entries (5.2.7 / 5.2.8). No silent
// fallback: a broken XSDT is an error; call again with AcpiRootChoice::kRsdt to try the RSDT.
template <AcpiMapper Map>
Result<AcpiRootTable> load_root_table(
    Map&& map, const Rsdp& rsdp, AcpiRootChoice choice = AcpiRootChoice::kPreferXsdt) noexcept {
  const bool xsdt = choice == AcpiRootChoice::kPreferXsdt && rsdp.has_xsdt();
  const uint64_t phys = xsdt ? rsdp.xsdt_phys : uint64_t{rsdp.rsdt_phys};
  if (phys == 0) return Error::kAcpiRootTableMissing;
  auto table = load_acpi_table(map, phys);
  if (!table) return table.error();
  const AcpiSignature want = xsdt ? AcpiSignature("XSDT") : AcpiSignature("RSDT");
  if (!want.matches(table->bytes)) {
    return xsdt ? Error::kXsdtBadSignature : Error::kRsdtBadSignature;
  }
  const uint32_t entry_size = xsdt ? acpi::kXsdtEntrySize : acpi::kRsdtEntrySize;
  if ((table->length - acpi::kTableHeaderLength) % entry_size != 0) {
    return xsdt ? Error::kXsdtEntryCountNotWhole : Error::kRsdtEntryCountNotWhole;
  }
  return AcpiRootTable(*table, entry_size);
}

// The `instance`-th table (0 = first) with `signature` among the root table's entries, in
// entry order, checked by load_acpi_table. Null entries are skipped; so are entries whose
// header cannot be mapped, but if the table is not found after one of those, the answer is
// kAcpiTableUnmapped (it may have been the one) instead of kAcpiTableNotFound. An SSDT
// typically appears several times; instance counts every entry carrying the signature.
template <AcpiMapper Map>
Result<AcpiTable> find_acpi_table(Map&& map, const AcpiRootTable& root, AcpiSignature signature,
                                  uint32_t instance = 0) noexcept {
  bool skipped_unmapped = false;
  for (uint32_t i = 0; i < root.count(); ++i) {
    const uint64_t phys = root.entry_phys(i);
    if (phys == 0) continue;
    const uint8_t* header = map(phys, acpi::kTableHeaderLength);
    if (header == nullptr) {
      skipped_unmapped = true;
      continue;
    }
    if (!signature.matches(header)) continue;
    if (instance-- != 0) continue;
    return load_acpi_table(map, phys);
  }
  return skipped_unmapped ? Error::kAcpiTableUnmapped : Error::kAcpiTableNotFound;
}

// The same from the RSDP: load_root_table (XSDT preferred), then the search above.
template <AcpiMapper Map>
Result<AcpiTable> find_acpi_table(Map&& map, const Rsdp& rsdp, AcpiSignature signature,
                                  uint32_t instance = 0) noexcept {
  auto root = load_root_table(map, rsdp);
  if (!root) return root.error();
  return find_acpi_table(map, *root, signature, instance);
}

// How many root-table entries carry `signature` (headers that cannot be mapped are not counted).
template <AcpiMapper Map>
uint32_t count_acpi_tables(Map&& map, const AcpiRootTable& root,
                           AcpiSignature signature) noexcept {
  uint32_t n = 0;
  for (uint32_t i = 0; i < root.count(); ++i) {
    const uint64_t phys = root.entry_phys(i);
    if (phys == 0) continue;
    const uint8_t* header = map(phys, acpi::kTableHeaderLength);
    if (header != nullptr && signature.matches(header)) ++n;
  }
  return n;
}

}  // namespace smpboot
