// A bounds-checked walker over the ACPI MADT (ACPI 6.5, 5.2.12 "Multiple APIC Description
// Table"). It validates the header (signature, length, checksum), walks subtables by their
// length byte, and reports Local APIC (type 0) and Local x2APIC (type 9) entries in table
// order. It never reads outside [data, data + size): a truncated table, a subtable whose
// length is 0/1 (which would loop forever) or runs past the end stops the walk with a typed
// error after every entry before it was reported. Unknown subtable types are skipped.
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

  // Visits every subtable as visit(type, offset, length); stops at the first malformed one.
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
      visit(type, offset, uint32_t{len});
      offset += len;
    }
    return {};
  }

  // Visits every type-0 and type-9 entry as visit(const MadtCpuEntry&), in table order.
  template <class Visit>
  Status for_each_cpu(Visit&& visit) const noexcept {
    uint32_t index = 0;
    return for_each_subtable([&](uint8_t type, uint32_t offset, uint32_t) {
      const uint8_t* subtable = data_ + offset;
      MadtCpuEntry e;
      e.offset = offset;
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

  // The local APIC's physical address: a type-5 override wins over the 32-bit header field.
  uint64_t local_apic_phys() const noexcept {
    uint64_t address = local_apic_address();
    (void)for_each_subtable([&](uint8_t type, uint32_t offset, uint32_t) {
      if (type == uint8_t(madt::SubtableType::kLocalApicAddressOverride)) {
        address = madt::LocalApicAddressOverrideEntry{data_ + offset}.local_apic_address();
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
      default: return 2;
    }
  }

  const uint8_t* data_ = nullptr;
  uint32_t length_ = 0;
};

}  // namespace smpboot
