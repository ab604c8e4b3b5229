// A bounds-checked walker over the ACPI MADT (ACPI 6.5, 5.2.12 "Multiple APIC Description
// Table"). It validates the header (signature, length, checksum), walks subtables by their
// length byte, and reports Local APIC (type 0) and Local x2APIC (type 9) entries in table
// order. It never reads outside [data, data + size): a truncated table, a subtable whose
// length is 0/1 (which would loop forever) or runs past the end stops the walk with a typed
// error after every entry before it was reported. The Multiprocessor Wakeup Structure (type
// 0x10) has its own typed view (multiprocessor_wakeup). Unknown subtable types are skipped by the
// CPU walk; for_each_subtable hands every subtable's checked bytes to the caller (I/O APICs,
// interrupt source overrides: the library reads none of them itself).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../core/bits.hpp"
#include "../core/result.hpp"
#include "../core/types.hpp"
#include "../hw/madt.hpp"

namespace smpboot {

struct MadtCpuEntry {
  uint32_t index = 0;   // position among type-0/9 entries
  uint32_t offset = 0;  // byte offset of the subtable in the table
  uint8_t type = 0;     // 0 = Local APIC, 9 = Local x2APIC
  AcpiUid uid{0};
  ApicId apic_id{0};
  uint32_t flags = 0;

  constexpr bool enabled() const noexcept { return (flags & madt::kFlagEnabled) != 0; }
  constexpr bool online_capable() const noexcept {
    return (flags & madt::kFlagOnlineCapable) != 0;
  }
  // Type-0 entries with APIC ID 0xFF are placeholders firmware leaves for absent sockets;
  // 0xFF is the xAPIC broadcast address and never a CPU.
  constexpr bool placeholder() const noexcept {
    return type == uint8_t(madt::SubtableType::kLocalApic) && apic_id == kBroadcastXApicId;
  }
};

class Madt;

// The Multiprocessor Wakeup Structure (type 0x10, ACPI 6.4+ 5.2.12.19): where the firmware's
// wakeup mailbox is (boot/mailbox.hpp), which mailbox version it speaks, and for version 1 the
// reset vector (0 when the subtable is the 16-byte version-0 layout). Checked by the walker:
// at least 16 bytes, and 24 before reset_vector is read.
struct MadtMultiprocessorWakeup {
  uint32_t offset = 0;          // byte offset of the subtable in the table
  uint16_t mailbox_version = 0; // 0 (ACPI 6.4) or 1 (adds the reset vector)
  uint64_t mailbox_phys = 0;    // physical address of the 4 KiB mailbox
  uint64_t reset_vector_phys = 0;  // version 1 with a 24-byte subtable; else 0
  constexpr bool has_reset_vector() const noexcept { return reset_vector_phys != 0; }
};

// One subtable ("Interrupt Controller Structure", ACPI 6.5 5.2.12, Table 5.20): its type, its
// offset in the MADT and its bytes, which the walker has already checked lie inside the table
// (length >= 2 and no further than the table's end). bytes()[0] is the type, bytes()[1] the
// length. The read_* functions are little-endian (ACPI 5.2: all fields are) at a byte offset
// inside the subtable and refuse, with kMadtSubtableTooShort, any read past its length: a
// firmware subtable shorter than its type's layout cannot make a reader leave it.
class MadtSubtable {
 public:
  constexpr uint8_t type() const noexcept { return bytes_[0]; }
  constexpr uint32_t offset() const noexcept { return offset_; }
  constexpr uint32_t length() const noexcept { return length_; }
  constexpr const uint8_t* bytes() const noexcept { return bytes_; }

  constexpr bool contains(uint32_t at, uint32_t size) const noexcept {
    return at <= length_ && size <= length_ - at;
  }
  constexpr Result<uint8_t> read_u8(uint32_t at) const noexcept {
    if (!contains(at, 1)) return Error::kMadtSubtableTooShort;
    return bytes_[at];
  }
  constexpr Result<uint16_t> read_le16(uint32_t at) const noexcept {
    if (!contains(at, 2)) return Error::kMadtSubtableTooShort;
    return uint16_t(bytes_[at] | bytes_[at + 1] << 8);
  }
  constexpr Result<uint32_t> read_le32(uint32_t at) const noexcept {
    if (!contains(at, 4)) return Error::kMadtSubtableTooShort;
    return load_le32(bytes_ + at);
  }
  constexpr Result<uint64_t> read_le64(uint32_t at) const noexcept {
    if (!contains(at, 8)) return Error::kMadtSubtableTooShort;
    return load_le64(bytes_ + at);
  }

 private:
  friend class Madt;
  constexpr MadtSubtable(const uint8_t* bytes, uint32_t offset, uint32_t length) noexcept
      : bytes_(bytes), offset_(offset), length_(length) {}

  const uint8_t* bytes_;
  uint32_t offset_;
  uint32_t length_;
};

enum class MadtChecksum : uint8_t { kVerify, kIgnore };

class Madt {
 public:
  constexpr Madt() noexcept = default;

  static Result<Madt> parse(const void* data, size_t size,
                            MadtChecksum checksum = MadtChecksum::kVerify) noexcept {
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (bytes == nullptr || size < madt::kMadtFixedLength) return Error::kMadtTooShort;
    if (bytes[0] != 'A' || bytes[1] != 'P' || bytes[2] != 'I' || bytes[3] != 'C') {
      return Error::kMadtBadSignature;
    }
    const uint32_t length = load_le32(bytes + madt::kOffsetLength);
    if (length < madt::kMadtFixedLength) return Error::kMadtTooShort;
    if (length > size) return Error::kMadtLengthPastBuffer;
    if (checksum == MadtChecksum::kVerify) {
      uint8_t sum = 0;
      for (uint32_t i = 0; i < length; ++i) sum = uint8_t(sum + bytes[i]);
      if (sum != 0) return Error::kMadtBadChecksum;
    }
    return Madt(bytes, length);
  }

  // For diagnosing broken firmware (smpboot-inspect): accepts a bad checksum and a Length
  // field larger than the buffer, walking only the bytes that exist. Still bounds-checked.
  static Result<Madt> salvage(const void* data, size_t size) noexcept {
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (bytes == nullptr || size < madt::kMadtFixedLength) return Error::kMadtTooShort;
    const uint32_t length = load_le32(bytes + madt::kOffsetLength);
    if (length < madt::kMadtFixedLength) return Error::kMadtTooShort;
    if (bytes[0] != 'A' || bytes[1] != 'P' || bytes[2] != 'I' || bytes[3] != 'C') {
      return Error::kMadtBadSignature;
    }
    return Madt(bytes, length > size ? uint32_t(size) : length);
  }

  constexpr uint32_t length() const noexcept { return length_; }
  uint8_t revision() const noexcept { return data_[madt::kOffsetRevision]; }
  uint32_t flags() const noexcept { return load_le32(data_ + madt::kOffsetFlags); }
  uint32_t local_apic_address() const noexcept {
    return load_le32(data_ + madt::kOffsetLocalApicAddress);
  }

  // Visits every subtable as visit(const MadtSubtable&), in table order; stops at the first
  // malformed one, after visiting every subtable before it.
  template <class Visit>
  Status for_each_subtable(Visit&& visit) const noexcept {
    uint32_t offset = madt::kMadtFixedLength;
    while (offset < length_) {
      if (length_ - offset < 2) return Error::kMadtSubtablePastEnd;
      const uint8_t type = data_[offset + madt::kOffsetSubtableType];
      const uint8_t len = data_[offset + madt::kOffsetSubtableLength];
      if (len < 2) return Error::kMadtSubtableTooShort;
      if (len > length_ - offset) return Error::kMadtSubtablePastEnd;
      if (len < minimum_length(type)) return Error::kMadtSubtableTooShort;
      const MadtSubtable subtable(data_ + offset, offset, len);
      visit(subtable);
      offset += len;
    }
    return {};
  }

  // Visits every type-0 and type-9 entry as visit(const MadtCpuEntry&), in table order.
  template <class Visit>
  Status for_each_cpu(Visit&& visit) const noexcept {
    uint32_t index = 0;
    return for_each_subtable([&](const MadtSubtable& s) {
      const uint8_t type = s.type();
      const uint8_t* subtable = s.bytes();
      MadtCpuEntry e;
      e.offset = s.offset();
      e.type = type;
      if (type == uint8_t(madt::SubtableType::kLocalApic)) {
        const madt::LocalApicEntry local{subtable};
        e.uid = AcpiUid{local.acpi_processor_uid()};
        e.apic_id = ApicId{local.apic_id()};
        e.flags = local.flags();
      } else if (type == uint8_t(madt::SubtableType::kLocalX2Apic)) {
        const madt::LocalX2ApicEntry local{subtable};
        e.apic_id = ApicId{local.x2apic_id()};
        e.flags = local.flags();
        e.uid = AcpiUid{local.acpi_processor_uid()};
      } else {
        return;
      }
      e.index = index++;
      visit(static_cast<const MadtCpuEntry&>(e));
    });
  }

  // The first Multiprocessor Wakeup Structure, if the table has one (kAcpiTableNotFound if
  // not), or the walker's error if the table is malformed before it. A version-1 subtable
  // shorter than 24 bytes is refused (kMadtSubtableTooShort), not read with a zero vector.
  Result<MadtMultiprocessorWakeup> multiprocessor_wakeup() const noexcept {
    Result<MadtMultiprocessorWakeup> found = Error::kAcpiTableNotFound;
    bool done = false;
    const Status walked = for_each_subtable([&](const MadtSubtable& s) {
      if (done || s.type() != uint8_t(madt::SubtableType::kMultiprocessorWakeup)) return;
      done = true;
      const madt::MultiprocessorWakeupEntry entry{s.bytes()};
      MadtMultiprocessorWakeup w;
      w.offset = s.offset();
      w.mailbox_version = entry.mailbox_version();
      w.mailbox_phys = entry.mailbox_address();
      if (w.mailbox_version >= 1) {
        auto vector = s.read_le64(madt::kMultiprocessorWakeupLength);
        if (!vector) {
          found = vector.error();
          return;
        }
        w.reset_vector_phys = *vector;
      }
      found = w;
    });
    if (!done && !walked) return walked.error();
    return found;
  }

  // The local APIC's physical address: a type-5 override wins over the 32-bit header field.
  uint64_t local_apic_phys() const noexcept {
    uint64_t address = local_apic_address();
    (void)for_each_subtable([&](const MadtSubtable& s) {
      if (s.type() == uint8_t(madt::SubtableType::kLocalApicAddressOverride)) {
        address = madt::LocalApicAddressOverrideEntry{s.bytes()}.local_apic_address();
      }
    });
    return address;
  }

 private:
  constexpr Madt(const uint8_t* data, uint32_t length) noexcept : data_(data), length_(length) {}

  static constexpr uint32_t minimum_length(uint8_t type) noexcept {
    switch (type) {
      case uint8_t(madt::SubtableType::kLocalApic): return madt::kLocalApicLength;
      case uint8_t(madt::SubtableType::kLocalX2Apic): return madt::kLocalX2ApicLength;
      case uint8_t(madt::SubtableType::kLocalApicAddressOverride):
        return madt::kAddressOverrideLength;
      case uint8_t(madt::SubtableType::kMultiprocessorWakeup):
        return madt::kMultiprocessorWakeupLength;
      default: return 2;
    }
  }

  const uint8_t* data_ = nullptr;
  uint32_t length_ = 0;
};

}  // namespace smpboot
