// Error codes and a tiny Result<T> (no exceptions in a kernel). Every failure the library can
// meet has its own enumerator so callers and reports can say exactly what went wrong.
#pragma once

#include <stdint.h>

#include "types.hpp"

namespace smpboot {

enum class Error : uint8_t {
  kNone = 0,
  // Local APIC
  kIcrBusyTimeout,      // xAPIC ICR delivery-status bit stayed set past the deadline
  kDeliveryError,       // ESR reported an error after an IPI (bits in the CPU record)
  kX2ApicUnsupported,   // CPUID.01H:ECX[21] clear, or EXTD did not stick
  kX2ApicToXApicRefused,  // xAPIC asked in x2APIC mode: needs a disable first (SDM 11.12.5)
  kApicDisabled,        // IA32_APIC_BASE.EN clear and could not be set
  kDestinationTooWide,  // xAPIC mode cannot address an APIC ID above 0xFE
  kInvalidStartPage,    // SIPI start page not 4 KiB aligned below 1 MiB
  kInitToBsp,           // INIT would send the firmware BSP back into the firmware
  // IDs and the CPU table
  kApicIdNotInTable,
  kDuplicateApicId,
  kTableFull,
  kBadCpuIndex,
  kIllegalTransition,
  kLeafUnavailable,     // the requested CPUID leaf is not implemented / reports nothing
  // Bringup
  kApNeverAlive,
  kApNeverOnline,
  kLayoutMismatch,      // trampoline blob magic/version/size does not match the C++ layout
  kBroadcastUnsafe,     // all-excluding-self could hit CPUs we do not manage
  kBroadcastWhileRunning,  // all-excluding-self INIT would reset APs that are running
  kApicIdMismatch,      // the AP's CPUID ID names another record than its APIC ID register
  kBadPageTableRoot,    // TrampolineSetup::cr3 is 0 or not 4 KiB aligned
  kPageTableAbove4G,    // the trampoline loads CR3 in 32-bit mode: the root must be below 4 GiB
  kApicBaseAbove4G,     // the trampoline reads the xAPIC ID with paging off, below 4 GiB only
  kTableAbove4G,        // TrampolineSetup::table_phys is not reachable with paging off
  kCpuNeverOffline,     // a CPU asked to go offline did not park in time
  // MADT
  kMadtTooShort,        // smaller than the 44-byte MADT header
  kMadtBadSignature,
  kMadtLengthPastBuffer,  // header Length larger than the bytes we were given
  kMadtBadChecksum,
  kMadtSubtableTooShort,  // subtable length < 2 (would loop forever) or < its type's size
  kMadtSubtablePastEnd,   // subtable runs past the table's end
  // Clock calibration (time/calibration.hpp)
  kPitNotCounting,        // PIT channel 2's OUT2 (port 61h bit 5) never rose within the bound
  kPmTimerNotCounting,    // the ACPI PM timer did not advance within the bound
  kApicTimerNotCounting,  // the local APIC timer's current count did not fall
  kTscNotCounting,        // the TSC did not advance over a reference interval
  // The C API (include/smpboot/smpboot.h)
  kInvalidArgument,       // a NULL pointer, an unaligned stack, a CPU that cannot be the target
  kCalledOutOfOrder,      // e.g. bring_up before install_trampoline, anything before init
  kApicModeMismatch,      // the config's APIC mode is not the mode the BSP runs in
  // ACPI discovery (discovery/acpi.hpp)
  kRsdpNotFound,              // no valid RSDP in the EBDA's first KiB nor in 0xE0000-0xFFFFF
  kRsdpTooShort,              // fewer bytes than the RSDP's revision needs (20, or 36 / Length)
  kRsdpBadSignature,          // not "RSD PTR "
  kRsdpBadChecksum,           // the first 20 bytes do not sum to 0 (ACPI 1.0 checksum)
  kRsdpBadExtendedChecksum,   // revision >= 2: Length bytes do not sum to 0
  kRsdpBadLength,             // revision >= 2: Length below 36 or above 4096
  kRsdpUnmapped,              // the mapping function refused the RSDP's bytes
  kAcpiRootTableMissing,      // the RSDP's RSDT (and XSDT) address is 0
  kRsdtBadSignature,          // the RSDT address holds no "RSDT" table
  kXsdtBadSignature,          // the XSDT address holds no "XSDT" table
  kRsdtEntryCountNotWhole,    // RSDT Length - 36 not a multiple of 4
  kXsdtEntryCountNotWhole,    // XSDT Length - 36 not a multiple of 8
  kAcpiTableTooShort,         // a header's Length is below the 36-byte header
  kAcpiTableUnmapped,         // the mapping function refused a table's header or Length bytes
  kAcpiTableBadChecksum,      // a table's Length bytes do not sum to 0
  kAcpiTableNotFound,         // no root-table entry carries the signature (or that instance)
  // The SIPI page (boot/sipi_page.hpp)
  kNoSipiPage,                // no free usable 4 KiB page below 1 MiB in the memory map
  // The ACPI multiprocessor wakeup mailbox (boot/mailbox.hpp)
  kMailboxNoAck,              // the firmware never cleared the command: no AP took the wake
  kMailboxBusy,               // the command was not Noop before the wake: a request is open
  kMailboxBadAddress,         // the MADT's mailbox address is 0 or not 4 KiB aligned
  kMailboxNoEntry,            // the trampoline blob has no 64-bit mailbox entry (layout)
};

constexpr const char* error_name(Error e) noexcept {
  switch (e) {
    case Error::kNone: return "none";
    case Error::kIcrBusyTimeout: return "icr_busy_timeout";
    case Error::kDeliveryError: return "delivery_error";
    case Error::kX2ApicUnsupported: return "x2apic_unsupported";
    case Error::kX2ApicToXApicRefused: return "x2apic_to_xapic_refused";
    case Error::kApicDisabled: return "apic_disabled";
    case Error::kDestinationTooWide: return "destination_too_wide";
    case Error::kInvalidStartPage: return "invalid_start_page";
    case Error::kInitToBsp: return "init_to_bsp";
    case Error::kApicIdNotInTable: return "apic_id_not_in_table";
    case Error::kDuplicateApicId: return "duplicate_apic_id";
    case Error::kTableFull: return "table_full";
    case Error::kBadCpuIndex: return "bad_cpu_index";
    case Error::kIllegalTransition: return "illegal_transition";
    case Error::kLeafUnavailable: return "leaf_unavailable";
    case Error::kApNeverAlive: return "ap_never_alive";
    case Error::kApNeverOnline: return "ap_never_online";
    case Error::kLayoutMismatch: return "layout_mismatch";
    case Error::kBroadcastUnsafe: return "broadcast_unsafe";
    case Error::kBroadcastWhileRunning: return "broadcast_while_running";
    case Error::kApicIdMismatch: return "apic_id_mismatch";
    case Error::kBadPageTableRoot: return "bad_page_table_root";
    case Error::kPageTableAbove4G: return "page_table_above_4g";
    case Error::kApicBaseAbove4G: return "apic_base_above_4g";
    case Error::kTableAbove4G: return "table_above_4g";
    case Error::kCpuNeverOffline: return "cpu_never_offline";
    case Error::kMadtTooShort: return "madt_too_short";
    case Error::kMadtBadSignature: return "madt_bad_signature";
    case Error::kMadtLengthPastBuffer: return "madt_length_past_buffer";
    case Error::kMadtBadChecksum: return "madt_bad_checksum";
    case Error::kMadtSubtableTooShort: return "madt_subtable_too_short";
    case Error::kMadtSubtablePastEnd: return "madt_subtable_past_end";
    case Error::kPitNotCounting: return "pit_not_counting";
    case Error::kPmTimerNotCounting: return "pm_timer_not_counting";
    case Error::kApicTimerNotCounting: return "apic_timer_not_counting";
    case Error::kInvalidArgument: return "invalid_argument";
    case Error::kCalledOutOfOrder: return "called_out_of_order";
    case Error::kApicModeMismatch: return "apic_mode_mismatch";
    case Error::kTscNotCounting: return "tsc_not_counting";
    case Error::kRsdpNotFound: return "rsdp_not_found";
    case Error::kRsdpTooShort: return "rsdp_too_short";
    case Error::kRsdpBadSignature: return "rsdp_bad_signature";
    case Error::kRsdpBadChecksum: return "rsdp_bad_checksum";
    case Error::kRsdpBadExtendedChecksum: return "rsdp_bad_extended_checksum";
    case Error::kRsdpBadLength: return "rsdp_bad_length";
    case Error::kRsdpUnmapped: return "rsdp_unmapped";
    case Error::kAcpiRootTableMissing: return "acpi_root_table_missing";
    case Error::kRsdtBadSignature: return "rsdt_bad_signature";
    case Error::kXsdtBadSignature: return "xsdt_bad_signature";
    case Error::kRsdtEntryCountNotWhole: return "rsdt_entry_count_not_whole";
    case Error::kXsdtEntryCountNotWhole: return "xsdt_entry_count_not_whole";
    case Error::kAcpiTableTooShort: return "acpi_table_too_short";
    case Error::kAcpiTableUnmapped: return "acpi_table_unmapped";
    case Error::kAcpiTableBadChecksum: return "acpi_table_bad_checksum";
    case Error::kAcpiTableNotFound: return "acpi_table_not_found";
    case Error::kNoSipiPage: return "no_sipi_page";
    case Error::kMailboxNoAck: return "mailbox_no_ack";
    case Error::kMailboxBusy: return "mailbox_busy";
    case Error::kMailboxBadAddress: return "mailbox_bad_address";
    case Error::kMailboxNoEntry: return "mailbox_no_entry";
  }
  return "unknown";
}

// Either a T or an Error. T must be default-constructible and trivially copyable in practice.
template <class T>
class [[nodiscard]] Result {
 public:
  constexpr Result(T value) noexcept : value_(value), error_(Error::kNone) {}
  constexpr Result(Error error) noexcept : value_{}, error_(error) {}

  constexpr bool ok() const noexcept { return error_ == Error::kNone; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr Error error() const noexcept { return error_; }
  constexpr const T& value() const noexcept { return value_; }
  constexpr T& value() noexcept { return value_; }
  constexpr const T& operator*() const noexcept { return value_; }
  constexpr const T* operator->() const noexcept { return &value_; }
  constexpr T value_or(T fallback) const noexcept { return ok() ? value_ : fallback; }

 private:
  T value_;
  Error error_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  constexpr Result() noexcept : error_(Error::kNone) {}
  constexpr Result(Error error) noexcept : error_(error) {}
  constexpr bool ok() const noexcept { return error_ == Error::kNone; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr Error error() const noexcept { return error_; }

 private:
  Error error_;
};

using Status = Result<void>;

}  // namespace smpboot
