// What the boot loader handed over: the protocol (boot.asm tells Multiboot 1 and 2 apart by
// EAX), the command line, the firmware memory map, the RSDP of the Multiboot 2 ACPI tags, and
// the SIPI page chosen from that map (smpboot/boot/sipi_page.hpp).
//
// Layouts: Multiboot 0.6.96, 3.3 "Boot information format" (flags at 0, cmdline at 16 with
// flag bit 2, mmap_length/mmap_addr at 44/48 with flag bit 6, each entry {size, base_addr,
// length, type} with `size` not counting itself). Multiboot 2.0, 3.6 "Boot information":
// total_size, reserved, then 8-byte aligned tags {type, size, ...} up to the end tag (type 0):
// 1 command line, 6 memory map {entry_size, entry_version, entries {base, length, type,
// reserved}}, 14 ACPI old RSDP (copy), 15 ACPI new RSDP (copy), 17 EFI memory map
// {descriptor_size, descriptor_version, descriptors}, 18 EFI boot services not terminated.
// EFI memory descriptors and types: UEFI 2.10, 7.2 "EFI_BOOT_SERVICES.AllocatePages()"
// (EFI_MEMORY_TYPE) and "EFI_BOOT_SERVICES.GetMemoryMap()" (EFI_MEMORY_DESCRIPTOR).
//
// Everything is copied into the kernel here, in platform_init: the loader's structures lie
// outside the image, and the SIPI page may be one of the pages they used.
#include <smpboot/boot/sipi_page.hpp>

#include "internal.hpp"

extern "C" uint32_t boot_protocol;  // boot.asm: 0 unknown, 1 Multiboot 1, 2 Multiboot 2
extern "C" uint8_t __image_start[], __image_end[];  // linker.ld

namespace platform {
namespace {

using detail::load32;
using detail::load64;
using smpboot::MemoryRange;
using smpboot::MemoryType;

constexpr uint32_t kMb1FlagCmdline = 1u << 2;
constexpr uint32_t kMb1FlagMmap = 1u << 6;
constexpr uint32_t kMb1InfoBytes = 88;  // up to and including the VBE fields (3.3)

constexpr uint32_t kMb2TagEnd = 0;
constexpr uint32_t kMb2TagCmdline = 1;
constexpr uint32_t kMb2TagMmap = 6;
constexpr uint32_t kMb2TagAcpiOld = 14;
constexpr uint32_t kMb2TagAcpiNew = 15;
constexpr uint32_t kMb2TagEfiMmap = 17;
constexpr uint32_t kMb2TagEfiBootServices = 18;
constexpr uint32_t kMb2MaxInfoBytes = 1u << 20;  // a bound on total_size, against garbage

constexpr size_t kMaxRanges = 256;
constexpr size_t kRsdpCopyBytes = 256;  // the RSDP is 36 bytes since ACPI 2.0
constexpr size_t kMaxOwnRanges = 8;

constinit BootProtocol g_protocol = BootProtocol::kUnknown;
constinit const char* g_cmdline_source = nullptr;
constinit MemoryRange g_map[kMaxRanges] = {};
constinit size_t g_map_count = 0;
constinit size_t g_map_dropped = 0;
constinit const char* g_map_source = "none";
constinit const uint8_t* g_efi_mmap_tag = nullptr;  // the raw Multiboot 2 tag 17, if used
constinit uint8_t g_rsdp[kRsdpCopyBytes] = {};
constinit size_t g_rsdp_size = 0;
constinit const char* g_rsdp_source = nullptr;
constinit smpboot::PhysRange g_own[kMaxOwnRanges] = {};
constinit size_t g_own_count = 0;
constinit uint64_t g_sipi_page = 0;
constinit smpboot::Error g_sipi_error = smpboot::Error::kNoSipiPage;
constinit uint16_t g_ebda_segment = 0;

const uint8_t* bytes_at(uint64_t phys) { return detail::phys_bytes(phys); }

void add_range(uint64_t base, uint64_t length, MemoryType type) {
  if (g_map_count == kMaxRanges) {
    ++g_map_dropped;  // a usable range left out only narrows the choice (page_is_usable)
    return;
  }
  g_map[g_map_count++] = MemoryRange{base, length, type};
}

void add_own(uint64_t base, uint64_t length) {
  if (g_own_count < kMaxOwnRanges && length != 0) g_own[g_own_count++] = {base, length};
}

void read_multiboot1(uint64_t info) {
  const uint8_t* mbi = bytes_at(info);
  const uint32_t flags = load32(mbi);
  add_own(info, kMb1InfoBytes);
  if (flags & kMb1FlagCmdline) {
    const uint32_t cmdline = load32(mbi + 16);
    if (cmdline != 0) {
      g_cmdline_source = reinterpret_cast<const char*>(uintptr_t(cmdline));
      size_t n = 0;
      while (n < kCmdlineMaxBytes && g_cmdline_source[n]) ++n;
      add_own(cmdline, n + 1);
    }
  }
  if (flags & kMb1FlagMmap) {
    const uint32_t length = load32(mbi + 44), addr = load32(mbi + 48);
    add_own(addr, length);
    g_map_source = "mb1-mmap";
    for (uint32_t at = 0; at + 24 <= length;) {
      const uint8_t* e = bytes_at(uint64_t(addr) + at);
      const uint32_t size = load32(e);
      add_range(load64(e + 4), load64(e + 12), smpboot::memory_type_from_e820(load32(e + 20)));
      if (size < 20) break;  // not a Multiboot entry; stop rather than loop on garbage
      at += size + 4;
    }
  }
}

void read_multiboot2(uint64_t info) {
  const uint8_t* mbi = bytes_at(info);
  uint32_t total = load32(mbi);
  if (total < 16 || total > kMb2MaxInfoBytes) return;
  add_own(info, total);
  const uint8_t *mmap = nullptr, *efi_mmap = nullptr, *acpi_old = nullptr, *acpi_new = nullptr;
  bool boot_services_exited = true;
  for (uint32_t at = 8; at + 8 <= total;) {
    const uint8_t* tag = mbi + at;
    const uint32_t type = load32(tag), size = load32(tag + 4);
    if (type == kMb2TagEnd || size < 8 || at + size > total) break;
    switch (type) {
      case kMb2TagCmdline: g_cmdline_source = reinterpret_cast<const char*>(tag + 8); break;
      case kMb2TagMmap: mmap = tag; break;
      case kMb2TagEfiMmap: efi_mmap = tag; break;
      case kMb2TagAcpiOld: acpi_old = tag; break;
      case kMb2TagAcpiNew: acpi_new = tag; break;
      case kMb2TagEfiBootServices: boot_services_exited = false; break;
      default: break;
    }
    at = (at + size + 7) & ~7u;
  }
  // The EFI memory map is the firmware's own, taken at ExitBootServices; GRUB's mmap tag is
  // its conversion of the same map under UEFI, and the E820 map under BIOS.
  if (efi_mmap != nullptr && load32(efi_mmap + 4) >= 16) {
    const uint32_t size = load32(efi_mmap + 4), desc_size = load32(efi_mmap + 8);
    g_map_source = boot_services_exited ? "mb2-efi-mmap" : "mb2-efi-mmap-boot-services";
    g_efi_mmap_tag = efi_mmap;
    for (uint32_t at = 16; desc_size >= 40 && at + 40 <= size; at += desc_size) {
      const uint8_t* d = efi_mmap + at;
      add_range(load64(d + 8), load64(d + 24) * smpboot::kEfiPageBytes,
                smpboot::memory_type_from_efi(load32(d), boot_services_exited));
    }
  } else if (mmap != nullptr && load32(mmap + 4) >= 16) {
    const uint32_t size = load32(mmap + 4), entry_size = load32(mmap + 8);
    g_map_source = "mb2-mmap";
    for (uint32_t at = 16; entry_size >= 24 && at + 24 <= size; at += entry_size) {
      const uint8_t* e = mmap + at;
      add_range(load64(e), load64(e + 8), smpboot::memory_type_from_e820(load32(e + 16)));
    }
  }
  // The ACPI tags hold a copy of the RSDP itself: the new (2.0+) one if given, else the old.
  const uint8_t* const acpi_tags[] = {acpi_new, acpi_old};
  for (const uint8_t* tag : acpi_tags) {
    if (tag == nullptr || g_rsdp_size != 0 || load32(tag + 4) <= 8) continue;
    size_t n = load32(tag + 4) - 8;
    if (n > kRsdpCopyBytes) n = kRsdpCopyBytes;
    memcpy(g_rsdp, tag + 8, n);
    g_rsdp_size = n;
    g_rsdp_source = tag == acpi_new ? "mb2-acpi-new" : "mb2-acpi-old";
  }
}

}  // namespace

namespace detail {

const uint8_t* efi_mmap_tag() { return g_efi_mmap_tag; }

const char* read_boot_info(uint32_t info_phys) {
  g_protocol = boot_protocol == 1 ? BootProtocol::kMultiboot1
               : boot_protocol == 2 ? BootProtocol::kMultiboot2
                                    : BootProtocol::kUnknown;
  const uint64_t image = reinterpret_cast<uint64_t>(__image_start);
  add_own(image, reinterpret_cast<uint64_t>(__image_end) - image);  // page tables, stacks too
  if (info_phys != 0 && g_protocol == BootProtocol::kMultiboot1) read_multiboot1(info_phys);
  if (info_phys != 0 && g_protocol == BootProtocol::kMultiboot2) read_multiboot2(info_phys);

  // The BDA word at 0x40E: the EBDA's segment where a BIOS set one (0 or garbage under UEFI,
  // which sipi_page_ceiling() does not believe).
  g_ebda_segment = detail::load16(bytes_at(0x40E));
  auto page = smpboot::choose_sipi_page(g_map, g_map_count, g_own, g_own_count, g_ebda_segment);
  g_sipi_page = page ? page->phys_addr() : 0;
  g_sipi_error = page ? smpboot::Error::kNone : page.error();
  return g_cmdline_source;
}

bool boot_rsdp(const uint8_t*& bytes, size_t& size, const char*& source) {
  if (g_rsdp_size == 0) return false;
  bytes = g_rsdp;
  size = g_rsdp_size;
  source = g_rsdp_source;
  return true;
}

}  // namespace detail

BootProtocol boot_protocol_used() { return g_protocol; }

const char* boot_protocol_name() {
  switch (g_protocol) {
    case BootProtocol::kMultiboot1: return "multiboot1";
    case BootProtocol::kMultiboot2: return "multiboot2";
    default: return "unknown";
  }
}

const smpboot::MemoryRange* memory_map(size_t& count) {
  count = g_map_count;
  return g_map;
}

const char* memory_map_source() { return g_map_source; }
size_t memory_map_dropped() { return g_map_dropped; }

uint64_t sipi_page_phys() { return g_sipi_page; }
smpboot::Error sipi_page_error() { return g_sipi_error; }
uint16_t ebda_segment() { return g_ebda_segment; }

}  // namespace platform
