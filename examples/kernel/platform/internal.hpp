// What the platform's own files share and the kernel does not need.
#pragma once

#include "platform.hpp"

namespace platform::detail {

// kprintf's formatter without the lock (the fault reporter decides about locking itself).
void vprint_unlocked(const char* fmt, __builtin_va_list args);
void print_unlocked(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Takes the console lock unless that takes more than about `spins` PAUSEs: a CPU that faults
// while another (or itself) holds the lock must still get its report out.
bool console_lock_bounded(uint64_t spins);

// Waits until COM1 has sent everything (LSR.TEMT), for the last line before an exit.
void serial_drain();

inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (uint64_t{hi} << 32) | lo;
}

inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
  asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(subleaf));
}

// Little-endian loads from byte buffers that may be unaligned (ACPI tables, Multiboot info).
inline uint16_t load16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
inline uint32_t load32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t load64(const uint8_t* p) { return load32(p) | uint64_t(load32(p + 4)) << 32; }

// A pointer to identity-mapped physical memory. The empty asm hides the constant from the
// optimizer, which otherwise reasons about "objects" at small fixed addresses (GCC 12 warns
// -Warray-bounds for 0x40E).
inline const uint8_t* phys_bytes(uint64_t phys) {
  asm("" : "+r"(phys));
  return reinterpret_cast<const uint8_t*>(phys);
}

// boot_info.cpp, for platform_init: reads the loader's information (boot.asm's protocol),
// chooses the SIPI page, and returns the loader's command line (nullptr if none).
const char* read_boot_info(uint32_t info_phys);
// The RSDP copy from a Multiboot 2 ACPI tag (new, else old), for acpi.cpp. False if none.
bool boot_rsdp(const uint8_t*& bytes, size_t& size, const char*& source);
const uint8_t* efi_mmap_tag();  // the Multiboot 2 EFI memory map tag the map came from, or null

// The identity map covers physical [0, 4 GiB): anything else cannot be dereferenced.
constexpr uint64_t kMappedLimit = 0x1'0000'0000;

}  // namespace platform::detail
