// Strong types for the identifiers a bringup juggles: APIC IDs (hardware addresses of local
// APICs), ACPI processor UIDs (firmware names) and dense CPU indexes (our table slots).
// Mixing them up is the classic bringup bug, so each is its own type and none converts
// implicitly. Also the few freestanding stand-ins for <type_traits>/<utility> we need (bit
// fields are in bits.hpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace smpboot {

// 32-bit x2APIC ID (SDM Vol. 3A, "Local APIC ID"); xAPIC IDs are the low 8 bits.
struct ApicId {
  uint32_t value;
  constexpr bool operator==(const ApicId&) const = default;
};

// ACPI Processor UID (ACPI 6.5, 5.2.12.2 / 5.2.12.12): 8-bit in type-0, 32-bit in type-9 entries.
struct AcpiUid {
  uint32_t value;
  constexpr bool operator==(const AcpiUid&) const = default;
};

// Dense 0-based slot in a CpuTable. Index 0 is the CPU that ran the bringup (the BSP).
struct CpuIndex {
  uint32_t value;
  constexpr bool operator==(const CpuIndex&) const = default;
};

// The broadcast destinations, never a CPU's ID (SDM Vol. 3A 11.6.2.1 "Physical Destination
// Mode": 0xFF in xAPIC mode; 11.12.9 "ICR Operation in x2APIC Mode": 0xFFFFFFFF).
inline constexpr ApicId kBroadcastXApicId{0xFFu};
inline constexpr ApicId kBroadcastX2ApicId{0xFFFF'FFFFu};

namespace detail {
template <class A, class B> inline constexpr bool is_same_v = __is_same(A, B);
template <class T> struct remove_reference { using type = T; };
template <class T> struct remove_reference<T&> { using type = T; };
template <class T> struct remove_reference<T&&> { using type = T; };
template <class T> using remove_reference_t = typename remove_reference<T>::type;
}  // namespace detail

template <class A, class B>
concept SameAs = detail::is_same_v<A, B> && detail::is_same_v<B, A>;

template <class T>
constexpr detail::remove_reference_t<T>&& move(T&& t) noexcept {
  return static_cast<detail::remove_reference_t<T>&&>(t);
}

}  // namespace smpboot
