// Byte layout of the ACPI MADT ("APIC" table, ACPI 6.5 section 5.2.12): the 36-byte system
// description header, the MADT fields, and views that name the fields of the subtables smpboot
// reads. Integers are little-endian and unaligned. The views do no bounds checks: the walker
// in discovery/madt.hpp hands them only subtables at least as long as their type's length.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"

namespace smpboot::madt {

inline constexpr uint32_t kHeaderLength = 36;         // ACPI 5.2.6 System Description Header
inline constexpr uint32_t kMadtFixedLength = 44;      // + Local Interrupt Controller Address, Flags
inline constexpr uint32_t kOffsetLength = 4;
inline constexpr uint32_t kOffsetRevision = 8;
inline constexpr uint32_t kOffsetLocalApicAddress = 36;
inline constexpr uint32_t kOffsetFlags = 40;

// Every subtable (interrupt controller structure) starts with its type and its length in
// bytes (5.2.12).
inline constexpr uint32_t kOffsetSubtableType = 0;
inline constexpr uint32_t kOffsetSubtableLength = 1;

enum class SubtableType : uint8_t {
  kLocalApic = 0,             // 5.2.12.2
  kIoApic = 1,
  kInterruptSourceOverride = 2,
  kLocalApicNmi = 4,
  kLocalApicAddressOverride = 5,  // 5.2.12.8
  kLocalX2Apic = 9,           // 5.2.12.12
  kLocalX2ApicNmi = 10,
};

inline constexpr uint32_t kLocalApicLength = 8;
inline constexpr uint32_t kLocalX2ApicLength = 16;
inline constexpr uint32_t kAddressOverrideLength = 12;

// Local APIC Flags (table 5.23): bit 0 Enabled, bit 1 Online Capable (ACPI 6.3+, MADT rev >= 5;
// meaningful only when Enabled is 0).
inline constexpr uint32_t kFlagEnabled = 1u << 0;
inline constexpr uint32_t kFlagOnlineCapable = 1u << 1;

// "Processor Local APIC Structure" (5.2.12.2): type 0, length 8.
struct LocalApicEntry {
  const uint8_t* bytes;
  constexpr uint8_t acpi_processor_uid() const noexcept { return bytes[2]; }
  constexpr uint8_t apic_id() const noexcept { return bytes[3]; }
  constexpr uint32_t flags() const noexcept { return load_le32(bytes + 4); }
};

// "Processor Local x2APIC Structure" (5.2.12.12): type 9, length 16; bytes 2-3 reserved.
struct LocalX2ApicEntry {
  const uint8_t* bytes;
  constexpr uint32_t x2apic_id() const noexcept { return load_le32(bytes + 4); }
  constexpr uint32_t flags() const noexcept { return load_le32(bytes + 8); }
  constexpr uint32_t acpi_processor_uid() const noexcept { return load_le32(bytes + 12); }
};

// "Local APIC Address Override Structure" (5.2.12.8): type 5, length 12; bytes 2-3 reserved.
struct LocalApicAddressOverrideEntry {
  const uint8_t* bytes;
  constexpr uint64_t local_apic_address() const noexcept { return load_le64(bytes + 4); }
};

}  // namespace smpboot::madt
