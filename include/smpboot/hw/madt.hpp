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
  kMultiprocessorWakeup = 0x10,  // 5.2.12.19 (ACPI 6.4+)
};

inline constexpr uint32_t kLocalApicLength = 8;
inline constexpr uint32_t kLocalX2ApicLength = 16;
inline constexpr uint32_t kAddressOverrideLength = 12;
// Multiprocessor Wakeup Structure: 16 bytes in mailbox version 0 (ACPI 6.4), 24 with the
// reset vector that mailbox version 1 adds.
inline constexpr uint32_t kMultiprocessorWakeupLength = 16;
inline constexpr uint32_t kMultiprocessorWakeupV1Length = 24;

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

// "Multiprocessor Wakeup Structure" (5.2.12.19, ACPI 6.4+): type 0x10; bytes 4-7 reserved.
// The mailbox is a 4 KiB-aligned page of firmware-reserved memory (its layout is in
// boot/mailbox.hpp); version 1 adds, at byte 16, the physical address of the reset vector an
// OS jumps to when it hands a CPU back to the firmware. The walker checks the 16 bytes every
// version has; reset_vector is only read by a caller that checked the length.
struct MultiprocessorWakeupEntry {
  const uint8_t* bytes;
  constexpr uint16_t mailbox_version() const noexcept {
    return uint16_t(bytes[2] | bytes[3] << 8);
  }
  constexpr uint64_t mailbox_address() const noexcept { return load_le64(bytes + 8); }
};

}  // namespace smpboot::madt
