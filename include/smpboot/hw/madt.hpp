// Byte layout of the ACPI MADT ("APIC" table, ACPI 6.5 section 5.2.12): the 36-byte system
// description header, the MADT fields, and the subtables smpboot reads. Offsets only; the
// bounds-checked walker is discovery/madt.hpp. Integers are little-endian and unaligned.
#pragma once

#include <stdint.h>

namespace smpboot::madt {

inline constexpr uint32_t kHeaderLength = 36;         // ACPI 5.2.6 System Description Header
inline constexpr uint32_t kMadtFixedLength = 44;      // + Local Interrupt Controller Address, Flags
inline constexpr uint32_t kOffsetLength = 4;
inline constexpr uint32_t kOffsetRevision = 8;
inline constexpr uint32_t kOffsetLocalApicAddress = 36;
inline constexpr uint32_t kOffsetFlags = 40;

enum class SubtableType : uint8_t {
  kLocalApic = 0,             // 5.2.12.2, length 8
  kIoApic = 1,
  kInterruptSourceOverride = 2,
  kLocalApicNmi = 4,
  kLocalApicAddressOverride = 5,  // 5.2.12.8, length 12
  kLocalX2Apic = 9,           // 5.2.12.12, length 16
  kLocalX2ApicNmi = 10,
};

inline constexpr uint32_t kLocalApicLength = 8;   // type, len, uid8, apic_id8, flags32
inline constexpr uint32_t kLocalX2ApicLength = 16;  // type, len, rsvd16, x2apic_id32, flags32, uid32
inline constexpr uint32_t kAddressOverrideLength = 12;

// Local APIC Flags (table 5.23): bit 0 Enabled, bit 1 Online Capable (ACPI 6.3+, MADT rev >= 5;
// meaningful only when Enabled is 0).
inline constexpr uint32_t kFlagEnabled = 1u << 0;
inline constexpr uint32_t kFlagOnlineCapable = 1u << 1;

}  // namespace smpboot::madt
