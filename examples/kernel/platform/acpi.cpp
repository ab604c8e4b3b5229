// ACPI tables: find the RSDP, list the XSDT or RSDT, read what the platform needs from the FADT
// and the \_S5 sleep type from the AML. Layouts from the ACPI 6.5 specification: 5.2.5
// "Root System Description Pointer (RSDP)" (5.2.5.1 "Finding the RSDP on IA-PC Systems"),
// 5.2.6 "System Description Table Header", 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 "Fixed ACPI
// Description Table (FADT)". Read-only; no AML interpreter: \_S5 is found by a byte scan.
#include "internal.hpp"

namespace platform {
namespace {

using detail::load16;
using detail::load32;
using detail::load64;

constexpr uint32_t kHeaderLength = 36;       // 5.2.6: the common table header
constexpr uint32_t kMaxTableLength = 16u << 20;  // sanity bound on a header's Length
constexpr uint32_t kMaxTables = 64;

constinit AcpiInfo g_info;
constinit AcpiTable g_tables[kMaxTables] = {};
constinit uint32_t g_table_count = 0;
constinit int g_state = 0;  // 0 = not tried, 1 = found, -1 = no RSDP

bool checksum_ok(const uint8_t* p, uint32_t n) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum = uint8_t(sum + p[i]);
  return sum == 0;
}

bool same_sig(const uint8_t* p, const char* sig) {
  return p[0] == uint8_t(sig[0]) && p[1] == uint8_t(sig[1]) && p[2] == uint8_t(sig[2]) &&
         p[3] == uint8_t(sig[3]);
}

// A table at `phys` if its header is mapped, its Length sane, and its checksum right.
AcpiTable table_at(uint64_t phys) {
  if (phys == 0 || phys + kHeaderLength > detail::kMappedLimit) return {nullptr, 0};
  const uint8_t* p = detail::phys_bytes(phys);
  const uint32_t len = load32(p + 4);
  if (len < kHeaderLength || len > kMaxTableLength || phys + len > detail::kMappedLimit) {
    return {nullptr, 0};
  }
  if (!checksum_ok(p, len)) return {nullptr, 0};
  return {p, len};
}

// 5.2.5.3 "Root System Description Pointer (RSDP) Structure": the first 20 bytes (ACPI 1.0)
// must sum to zero; revision 2+ adds Length (offset 20) and an extended checksum over it all.
const uint8_t* rsdp_in(uint64_t start, uint64_t length) {
  for (uint64_t a = start; a + 20 <= start + length; a += 16) {
    const uint8_t* p = detail::phys_bytes(a);
    if (!same_sig(p, "RSD ") || !same_sig(p + 4, "PTR ") || !checksum_ok(p, 20)) continue;
    if (p[15] >= 2) {
      const uint32_t len = load32(p + 20);
      if (len < 36 || len > 1024 || !checksum_ok(p, len)) continue;
    }
    return p;
  }
  return nullptr;
}

const uint8_t* find_rsdp() {
  // The EBDA's real-mode segment is the word at 40:0Eh; search its first KiB, then the BIOS
  // area 0E0000h-0FFFFFh, on 16-byte boundaries.
  const uint64_t ebda = uint64_t(load16(detail::phys_bytes(0x40E))) << 4;
  if (ebda >= 0x80000 && ebda < 0xA0000) {
    if (const uint8_t* p = rsdp_in(ebda, 1024)) return p;
  }
  return rsdp_in(0xE0000, 0x20000);
}

// Adds every valid table the root table points to; entries are 4 (RSDT) or 8 (XSDT) bytes.
void collect(AcpiTable root, uint32_t entry_size) {
  const uint32_t n = (root.length - kHeaderLength) / entry_size;
  for (uint32_t i = 0; i < n && g_table_count < kMaxTables; ++i) {
    const uint8_t* e = root.data + kHeaderLength + i * entry_size;
    const AcpiTable t = table_at(entry_size == 8 ? load64(e) : load32(e));
    if (t.data) g_tables[g_table_count++] = t;
  }
}

// I/O port of a FADT block: the 32-bit legacy field if set, else the Generic Address
// Structure (5.2.3.2) if it is in system I/O space (Address Space ID 1).
uint16_t fadt_port(AcpiTable fadt, uint32_t legacy_off, uint32_t gas_off) {
  if (fadt.length >= legacy_off + 4) {
    if (const uint32_t port = load32(fadt.data + legacy_off)) return uint16_t(port);
  }
  if (fadt.length >= gas_off + 12 && fadt.data[gas_off] == 1) {
    return uint16_t(load64(fadt.data + gas_off + 4));
  }
  return 0;
}

void parse_fadt(AcpiTable fadt) {
  // 5.2.9 table "FADT Format": SMI_CMD 48, ACPI_ENABLE 52, PM1a_CNT_BLK 64, PM1b_CNT_BLK 68,
  // PM_TMR_BLK 76, PM_TMR_LEN 91, Flags 112 (TMR_VAL_EXT = bit 8), X_PM1a_CNT_BLK 172,
  // X_PM1b_CNT_BLK 184, X_PM_TMR_BLK 208.
  if (fadt.length >= 53) {
    g_info.smi_cmd_port = uint16_t(load32(fadt.data + 48));
    g_info.acpi_enable_value = fadt.data[52];
  }
  g_info.pm1a_cnt_port = fadt_port(fadt, 64, 172);
  g_info.pm1b_cnt_port = fadt_port(fadt, 68, 184);
  const uint16_t tmr = fadt_port(fadt, 76, 208);
  const bool tmr_len_ok = fadt.length >= 92 && fadt.data[91] == 4;
  if (tmr && (tmr_len_ok || load32(fadt.data + 76) == 0)) g_info.pm_timer_port = tmr;
  if (fadt.length >= 116) g_info.pm_timer_32bit = load32(fadt.data + 112) & (1u << 8);
}

// The DSDT is not in the RSDT/XSDT: the FADT points to it (X_DSDT at 140 if set, else DSDT
// at 40).
AcpiTable dsdt_of(AcpiTable fadt) {
  uint64_t phys = 0;
  if (fadt.length >= 148) phys = load64(fadt.data + 140);
  if (phys == 0 && fadt.length >= 44) phys = load32(fadt.data + 40);
  const AcpiTable t = table_at(phys);
  return t.data && same_sig(t.data, "DSDT") ? t : AcpiTable{nullptr, 0};
}

// An AML integer constant inside a package (ACPI 6.5 20.2.3 "Data Objects Encoding"):
// ZeroOp 00, OneOp 01, OnesOp FF, BytePrefix 0A nn, WordPrefix 0B nn nn. Returns the bytes
// used, 0 if it is something else.
uint32_t aml_small_int(const uint8_t* p, const uint8_t* end, uint8_t& value) {
  if (p >= end) return 0;
  switch (p[0]) {
    case 0x00: value = 0; return 1;
    case 0x01: value = 1; return 1;
    case 0xFF: value = 0xFF; return 1;
    case 0x0A: if (p + 2 > end) return 0; value = p[1]; return 2;
    case 0x0B: if (p + 3 > end) return 0; value = p[1]; return 3;
    default: return 0;
  }
}

// Looks for `Name(_S5_, Package(){SLP_TYPa, SLP_TYPb, ...})`: NameOp 08, optional root
// prefix '\', "_S5_", PackageOp 12, PkgLength (bits 7:6 of its first byte = extra bytes),
// NumElements, then the elements (7.4.2 "\_Sx (System States)").
bool scan_s5(AcpiTable t) {
  const uint8_t* end = t.data + t.length;
  for (const uint8_t* p = t.data + kHeaderLength; p + 4 < end; ++p) {
    if (!same_sig(p, "_S5_")) continue;
    const bool named = (p[-1] == 0x08) || (p[-1] == '\\' && p[-2] == 0x08);
    if (!named || p + 5 >= end || p[4] != 0x12) continue;
    const uint8_t* q = p + 5;
    q += 1 + (q[0] >> 6);  // PkgLength
    q += 1;                // NumElements
    uint8_t a, b;
    const uint32_t na = aml_small_int(q, end, a);
    if (!na) continue;
    const uint32_t nb = aml_small_int(q + na, end, b);
    if (!nb) continue;
    g_info.s5_found = true;
    g_info.s5_slp_typ_a = a & 7;  // SLP_TYPx is a 3-bit field of PM1x_CNT
    g_info.s5_slp_typ_b = b & 7;
    return true;
  }
  return false;
}

}  // namespace

bool acpi_init() {
  if (g_state != 0) return g_state > 0;
  g_state = -1;
  const uint8_t* rsdp = find_rsdp();
  if (!rsdp) return false;
  g_info.rsdp_phys = reinterpret_cast<uint64_t>(rsdp);
  g_info.rsdp_revision = rsdp[15];
  for (int i = 0; i < 6; ++i) g_info.oem_id[i] = char(rsdp[9 + i]);

  // The XSDT supersedes the RSDT when the RSDP is revision 2+ and the XSDT is valid (5.2.8).
  AcpiTable root{nullptr, 0};
  if (rsdp[15] >= 2) {
    root = table_at(load64(rsdp + 24));
    if (root.data && !same_sig(root.data, "XSDT")) root = {nullptr, 0};
    g_info.using_xsdt = root.data != nullptr;
  }
  if (!root.data) {
    root = table_at(load32(rsdp + 16));
    if (root.data && !same_sig(root.data, "RSDT")) root = {nullptr, 0};
  }
  if (root.data) collect(root, g_info.using_xsdt ? 8 : 4);

  const AcpiTable fadt = acpi_find("FACP");
  if (fadt.data) {
    parse_fadt(fadt);
    const AcpiTable dsdt = dsdt_of(fadt);
    if (dsdt.data && g_table_count < kMaxTables) g_tables[g_table_count++] = dsdt;
  }
  if (const AcpiTable dsdt = acpi_find("DSDT"); !dsdt.data || !scan_s5(dsdt)) {
    for (uint32_t i = 0;; ++i) {
      const AcpiTable ssdt = acpi_find("SSDT", i);
      if (!ssdt.data || scan_s5(ssdt)) break;
    }
  }
  g_state = 1;
  return true;
}

AcpiTable acpi_find(const char sig[4], uint32_t instance) {
  if (g_state == 0) acpi_init();
  for (uint32_t i = 0; i < g_table_count; ++i) {
    if (same_sig(g_tables[i].data, sig) && instance-- == 0) return g_tables[i];
  }
  return {nullptr, 0};
}

uint32_t acpi_table_count() {
  if (g_state == 0) acpi_init();
  return g_table_count;
}

AcpiTable acpi_table_at(uint32_t index) {
  return index < g_table_count ? g_tables[index] : AcpiTable{nullptr, 0};
}

const AcpiInfo& acpi_info() { return g_info; }

}  // namespace platform
