// Strong types for the identifiers a bringup juggles: APIC IDs (hardware addresses of local
// APICs), ACPI processor UIDs (firmware names) and dense CPU indexes (our table slots).
// Mixing them up is the classic bringup bug, so each is its own type and none converts
// implicitly. Also the few freestanding stand-ins for <type_traits>/<utility> we need.
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

// Bit helpers over unsigned integers; `width` may be 0..64.
constexpr uint64_t low_mask(unsigned width) noexcept {
  return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}
constexpr uint64_t bits(uint64_t value, unsigned low, unsigned width) noexcept {
  return (value >> low) & low_mask(width);
}
constexpr bool bit(uint64_t value, unsigned n) noexcept { return ((value >> n) & 1u) != 0; }

}  // namespace smpboot
