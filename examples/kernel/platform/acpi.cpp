// ACPI tables: the RSDP, the XSDT or RSDT and each table's header checks are smpboot's
// (discovery/acpi.hpp: from the Multiboot 2 ACPI tag's copy with parse_rsdp, else the BIOS
// areas with find_rsdp_in_bios_areas; tables with find_acpi_table / load_acpi_table); this
// file reads what the platform needs from the FADT and the \_S5 sleep type from the AML.
// Layouts from the ACPI 6.5 specification: 5.2.9 "Fixed ACPI Description Table (FADT)".
// Read-only; no AML interpreter: \_S5 is found by a byte scan.
#include <smpboot/discovery/acpi.hpp>

#include "internal.hpp"

namespace platform {
namespace {

using detail::load32;
using detail::load64;

constexpr uint32_t kHeaderLength = smpboot::acpi::kTableHeaderLength;
constexpr uint32_t kMaxTables = 64;

constinit AcpiInfo g_info;
constinit smpboot::AcpiRootTable g_root;
constinit AcpiTable g_dsdt = {nullptr, 0};
constinit AcpiTable g_tables[kMaxTables] = {};  // for acpi_table_at: the root's, then the DSDT
constinit uint32_t g_table_count = 0;
constinit int g_state = 0;  // 0 = not tried, 1 = found, -1 = no RSDP or root table

bool same_sig(const uint8_t* p, const char* sig) {
  return p[0] == uint8_t(sig[0]) && p[1] == uint8_t(sig[1]) && p[2] == uint8_t(sig[2]) &&
         p[3] == uint8_t(sig[3]);
}

// smpboot's mapping function: the identity map covers [0, 4 GiB).
const uint8_t* map_phys(uint64_t phys, uint32_t length) {
  if (phys >= detail::kMappedLimit || length > detail::kMappedLimit - phys) return nullptr;
  return detail::phys_bytes(phys);
}

// A table at `phys`, its header checked (smpboot::load_acpi_table), or {nullptr, 0}.
AcpiTable table_at(uint64_t phys) {
  auto t = smpboot::load_acpi_table(map_phys, phys);
  return t ? AcpiTable{t->bytes, t->length} : AcpiTable{nullptr, 0};
}

smpboot::Result<smpboot::Rsdp> find_rsdp() {
  const uint8_t* copy = nullptr;
  size_t size = 0;
  const char* source = nullptr;
  if (detail::boot_rsdp(copy, size, source)) {
    auto r = smpboot::parse_rsdp(copy, size);
    if (r) {
      g_info.rsdp_source = source;
      return r;
    }
  }
  auto r = smpboot::find_rsdp_in_bios_areas(map_phys);
  if (r) g_info.rsdp_source = "bios-scan";
  return r;
}

// Every valid table the root table points to, for acpi_table_at.
void collect() {
  for (uint32_t i = 0; i < g_root.count() && g_table_count < kMaxTables; ++i) {
    const AcpiTable t = table_at(g_root.entry_phys(i));
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

// `platform.dump=1`: the firmware's data as this kernel received it, for the unit tests'
// corpus (tests/data/acpi/, tests/data/memmap/; tools/capture/firmware_dump.py writes the
// files): the RSDP, the root table and every table it lists but the DSDT and FACS, the raw EFI
// memory descriptors or the converted map, and the BDA's EBDA segment.
void dump_bytes(const char* what, uint64_t phys, const uint8_t* bytes, size_t n) {
  kprintf("SMPBOOT DUMP %s 0x%lx ", what, phys);
  for (size_t i = 0; i < n; ++i) kprintf("%02x", bytes[i]);
  kprintf("\n");
}

void dump_firmware_data(const smpboot::Rsdp& rsdp, const uint8_t* rsdp_bytes) {
  dump_bytes("rsdp", rsdp.phys, rsdp_bytes, rsdp.revision >= 2 ? rsdp.length : 20);
  dump_bytes("table", g_root.table().phys, g_root.table().bytes, g_root.table().length);
  for (uint32_t i = 0; i < g_root.count(); ++i) {
    auto t = smpboot::load_acpi_table(map_phys, g_root.entry_phys(i));
    if (t) dump_bytes("table", t->phys, t->bytes, t->length);
  }
  kprintf("SMPBOOT DUMP ebda_segment 0x%x\n", unsigned(ebda_segment()));
  if (const uint8_t* tag = detail::efi_mmap_tag()) {
    const uint32_t size = detail::load32(tag + 4), desc_size = detail::load32(tag + 8);
    for (uint32_t at = 16; desc_size >= 40 && at + 40 <= size; at += desc_size) {
      const uint8_t* d = tag + at;  // Type, PhysicalStart, VirtualStart, NumberOfPages, Attribute
      kprintf("SMPBOOT DUMP efi_mmap %u 0x%lx 0x%lx 0x%lx\n", detail::load32(d),
              detail::load64(d + 8), detail::load64(d + 24), detail::load64(d + 32));
    }
  } else {
    size_t count = 0;
    const smpboot::MemoryRange* map = memory_map(count);
    for (size_t i = 0; i < count; ++i) {
      kprintf("SMPBOOT DUMP mmap 0x%lx 0x%lx %u\n", map[i].base, map[i].length, unsigned(map[i].type));
    }
  }
}

}  // namespace

bool acpi_init() {
  if (g_state != 0) return g_state > 0;
  g_state = -1;
  auto rsdp = find_rsdp();
  if (!rsdp) return false;
  g_info.rsdp_phys = rsdp->phys;
  g_info.rsdp_revision = rsdp->revision;
  for (int i = 0; i < 6; ++i) g_info.oem_id[i] = char(rsdp->oem_id[i]);

  // The XSDT supersedes the RSDT when the RSDP is revision 2+ (5.2.8); a broken XSDT falls
  // back to the RSDT.
  auto root = smpboot::load_root_table(map_phys, *rsdp);
  if (!root && rsdp->has_xsdt()) {
    root = smpboot::load_root_table(map_phys, *rsdp, smpboot::AcpiRootChoice::kRsdt);
  }
  if (!root) return false;
  g_root = *root;
  g_info.using_xsdt = g_root.is_xsdt();
  collect();
  g_state = 1;  // acpi_find works from here on
  char dump[2] = {};
  if (cmdline_get("platform.dump", dump, sizeof dump) && dump[0] == '1') {
    const uint8_t* copy = nullptr;
    size_t size = 0;
    const char* source = nullptr;
    const uint8_t* rsdp_bytes = detail::boot_rsdp(copy, size, source) ? copy : map_phys(rsdp->phys, 36);
    if (rsdp_bytes != nullptr) dump_firmware_data(*rsdp, rsdp_bytes);
  }

  const AcpiTable fadt = acpi_find("FACP");
  if (fadt.data) {
    parse_fadt(fadt);
    g_dsdt = dsdt_of(fadt);
    if (g_dsdt.data && g_table_count < kMaxTables) g_tables[g_table_count++] = g_dsdt;
  }
  if (!g_dsdt.data || !scan_s5(g_dsdt)) {
    for (uint32_t i = 0;; ++i) {
      const AcpiTable ssdt = acpi_find("SSDT", i);
      if (!ssdt.data || scan_s5(ssdt)) break;
    }
  }
  return true;
}

AcpiTable acpi_find(const char sig[4], uint32_t instance) {
  if (g_state == 0) acpi_init();
  if (g_state < 0) return {nullptr, 0};
  if (same_sig(reinterpret_cast<const uint8_t*>(sig), "DSDT")) {
    return instance == 0 ? g_dsdt : AcpiTable{nullptr, 0};
  }
  smpboot::AcpiSignature want;
  for (int i = 0; i < 4; ++i) want.bytes[i] = uint8_t(sig[i]);
  auto t = smpboot::find_acpi_table(map_phys, g_root, want, instance);
  return t ? AcpiTable{t->bytes, t->length} : AcpiTable{nullptr, 0};
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
