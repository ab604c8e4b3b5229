// Choosing the SIPI start page from the firmware memory map instead of assuming one: a 4 KiB
// page below 1 MiB that the map calls usable RAM, that no other map entry claims, that the
// kernel has not marked as its own, outside page 0 (the real-mode IVT and BIOS data area), the
// EBDA and 0xA0000-0xFFFFF (video memory and BIOS ROM), and whose page number is a legal
// STARTUP vector (hw/icr.hpp, StartPage). It only reads the lists it is given; it does not
// reserve the page (tell your allocator) nor read the map from firmware (your boot protocol).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/result.hpp"
#include "../hw/icr.hpp"

namespace smpboot {

// What a memory-map range holds, reduced to what choosing a page needs: only kUsable is ever
// chosen; every other type keeps its range out, even where a usable entry overlaps it.
enum class MemoryType : uint8_t {
  kUsable,           // E820 / Multiboot type 1 ("AddressRangeMemory")
  kReserved,         // type 2, and every type this list does not name
  kAcpiReclaimable,  // type 3: holds ACPI tables until the OS has read them
  kAcpiNvs,          // type 4: firmware's, across sleep states
  kBad,              // type 5: "AddressRangeUnusable", memory with detected errors
};

// E820 and Multiboot (1 and 2, whose mmap tags use the same numbers) range types (ACPI 6.5,
// 15.1 "INT 15H, E820H - Query System Address Map", Table 15.1 "Address Range Types"). The
// table tells OSPM to treat undefined types as reserved; disabled (6) and persistent memory
// (7) are not RAM to borrow either.
constexpr MemoryType memory_type_from_e820(uint32_t type) noexcept {
  switch (type) {
    case 1: return MemoryType::kUsable;
    case 3: return MemoryType::kAcpiReclaimable;
    case 4: return MemoryType::kAcpiNvs;
    case 5: return MemoryType::kBad;
    default: return MemoryType::kReserved;
  }
}

// UEFI memory descriptor types (UEFI 2.10, 7.2 "EFI_BOOT_SERVICES.GetMemoryMap()", and the table
// in 7.2 "Memory Type Usage after ExitBootServices()"). After ExitBootServices the boot
// services' and the loader's memory is free RAM too (the loader's includes the kernel and the
// boot loader's information, which a kernel lists as its own ranges); before it only
// EfiConventionalMemory is. Runtime services, MMIO, PAL code, persistent and unaccepted memory
// are never RAM to borrow.
constexpr MemoryType memory_type_from_efi(uint32_t type, bool boot_services_exited) noexcept {
  switch (type) {
    case 7: return MemoryType::kUsable;                   // EfiConventionalMemory
    case 1: case 2: case 3: case 4:                        // EfiLoaderCode/Data, EfiBootServicesCode/Data
      return boot_services_exited ? MemoryType::kUsable : MemoryType::kReserved;
    case 8: return MemoryType::kBad;                       // EfiUnusableMemory
    case 9: return MemoryType::kAcpiReclaimable;           // EfiACPIReclaimMemory
    case 10: return MemoryType::kAcpiNvs;                  // EfiACPIMemoryNVS
    default: return MemoryType::kReserved;
  }
}
inline constexpr uint64_t kEfiPageBytes = 4096;  // EFI_MEMORY_DESCRIPTOR.NumberOfPages unit

// One firmware memory-map entry. Entries may come in any order, overlap, or have length 0.
struct MemoryRange {
  uint64_t base = 0;
  uint64_t length = 0;
  MemoryType type = MemoryType::kReserved;
};

// A range the kernel owns and the trampoline must not overwrite: its image, its boot page
// tables, the boot loader's structures it still reads (Multiboot info, modules), ...
struct PhysRange {
  uint64_t base = 0;
  uint64_t length = 0;
};

enum class SipiPagePreference : uint8_t {
  // The highest free page. Linux places its real-mode trampoline the same way (memblock
  // allocates top-down below 1 MiB, arch/x86/realmode/init.c reserve_real_mode), away from the
  // low pages boot loaders use for their own structures (GRUB's Multiboot info was at 0x9000
  // under SeaBIOS and 0x10000 under Bochs in the captures in tests/data/memmap/).
  kHighest,
  kLowest,
};

namespace low_memory {
inline constexpr uint64_t kPageSize = 0x1000;
// Page 0: the real-mode interrupt vector table (0-0x3FF) and the BIOS data area (0x400-0x4FF).
inline constexpr uint64_t kFirstCandidate = 0x1000;
// 0xA0000-0xFFFFF: legacy video memory, option ROMs and the system BIOS. Pages A0H-FFH are
// therefore never chosen, which also keeps off the STARTUP vectors A0H-BFH that SDM Vol. 3A
// 11.6.1 "Interrupt Command Register (ICR)" reserves.
inline constexpr uint64_t kLegacyHoleStart = 0xA0000;
// Without the EBDA segment, assume an EBDA of up to 4 KiB below the hole (the BIOS shrinks
// base memory, BDA 0x413, by the EBDA's size: 639 KiB, EBDA at 0x9FC00, on every firmware in
// tests/data/memmap/).
inline constexpr uint64_t kConservativeEbdaStart = 0x9F000;
// A BDA 0x40E word naming an EBDA below 0x500 (inside the BDA) is not believed.
inline constexpr uint64_t kLowestEbda = 0x500;

constexpr uint64_t end_of(uint64_t base, uint64_t length) noexcept {
  return length > ~uint64_t{0} - base ? ~uint64_t{0} : base + length;
}
constexpr bool overlaps(uint64_t base, uint64_t length, uint64_t start, uint64_t end) noexcept {
  return length != 0 && base < end && end_of(base, length) > start;
}
}  // namespace low_memory

// The first page (4 KiB aligned) from which the EBDA and everything above it is avoided:
// the page holding the EBDA when the BDA word at 0x40E is given (non-zero and plausible),
// else 0x9F000.
constexpr uint64_t sipi_page_ceiling(uint16_t ebda_segment) noexcept {
  const uint64_t ebda = uint64_t{ebda_segment} << 4;
  if (ebda < low_memory::kLowestEbda || ebda >= low_memory::kLegacyHoleStart) {
    return low_memory::kConservativeEbdaStart;
  }
  return ebda & ~(low_memory::kPageSize - 1);
}

// Whether [start, start + 4 KiB) is usable RAM by the map: covered by the union of kUsable
// entries (which may be split at any byte) and touched by no entry of another type.
constexpr bool page_is_usable(const MemoryRange* map, size_t count, uint64_t start) noexcept {
  const uint64_t end = start + low_memory::kPageSize;
  for (size_t i = 0; i < count; ++i) {
    if (map[i].type != MemoryType::kUsable &&
        low_memory::overlaps(map[i].base, map[i].length, start, end)) {
      return false;
    }
  }
  uint64_t covered = start;
  for (size_t round = 0; round < count && covered < end; ++round) {
    bool advanced = false;
    for (size_t i = 0; i < count; ++i) {
      const MemoryRange& r = map[i];
      if (r.type != MemoryType::kUsable || r.length == 0) continue;
      const uint64_t r_end = low_memory::end_of(r.base, r.length);
      if (r.base <= covered && r_end > covered) {
        covered = r_end;
        advanced = true;
      }
    }
    if (!advanced) return false;
  }
  return covered >= end;
}

// Chooses the SIPI start page: see the file comment for the rules, `preference` for which
// of the free pages. `own` lists the kernel's ranges (may be nullptr when own_count is 0);
// `ebda_segment` is the BDA word at physical 0x40E, or 0 when unknown (then 0x9F000 and up
// are avoided). Returns kNoSipiPage when no page qualifies. Cost: at most 158 candidate pages,
// each checked against every entry (a map's entries a second time per split of its RAM).
constexpr Result<StartPage> choose_sipi_page(
    const MemoryRange* map, size_t map_count, const PhysRange* own, size_t own_count,
    uint16_t ebda_segment = 0,
    SipiPagePreference preference = SipiPagePreference::kHighest) noexcept {
  if (map == nullptr) map_count = 0;
  if (own == nullptr) own_count = 0;
  const uint64_t ceiling = sipi_page_ceiling(ebda_segment);
  const uint64_t first = low_memory::kFirstCandidate;
  const uint64_t pages = ceiling > first ? (ceiling - first) / low_memory::kPageSize : 0;
  for (uint64_t n = 0; n < pages; ++n) {
    const uint64_t start = preference == SipiPagePreference::kHighest
                               ? ceiling - (n + 1) * low_memory::kPageSize
                               : first + n * low_memory::kPageSize;
    if (!page_is_usable(map, map_count, start)) continue;
    bool taken = false;
    for (size_t i = 0; i < own_count && !taken; ++i) {
      taken = low_memory::overlaps(own[i].base, own[i].length, start,
                                  start + low_memory::kPageSize);
    }
    if (taken) continue;
    auto page = StartPage::from_phys(start);
    if (page) return page;
  }
  return Error::kNoSipiPage;
}

template <size_t N, size_t M>
constexpr Result<StartPage> choose_sipi_page(
    const MemoryRange (&map)[N], const PhysRange (&own)[M], uint16_t ebda_segment = 0,
    SipiPagePreference preference = SipiPagePreference::kHighest) noexcept {
  return choose_sipi_page(map, N, own, M, ebda_segment, preference);
}

// (choose_sipi_page itself is checked by tests/unit/test_sipi_page.cpp: a static_assert on a
// map at namespace scope would compare a global's address with nullptr in a constant
// expression, which g++ -fsanitize=address refuses.)
static_assert(sipi_page_ceiling(0) == 0x9F000 && sipi_page_ceiling(0x9FC0) == 0x9F000 &&
              sipi_page_ceiling(0x9000) == 0x90000 && sipi_page_ceiling(0xF000) == 0x9F000);

}  // namespace smpboot
