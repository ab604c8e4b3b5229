// Bit fields as the manuals write them, high bit first: field<31, 24> is bits 31:24 and
// field<11> is bit 11. The hardware headers (hw/) describe every register with these, so a
// field's position is written once, in the manual's notation, and never as a shift and a mask
// at a call site. Also little-endian loads for firmware tables, which are unaligned.
#pragma once

#include <stdint.h>

namespace smpboot {

// Bits [0, width) set; `width` may be 0..64.
constexpr uint64_t low_mask(unsigned width) noexcept {
  return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}

// A field whose position is known only at run time (e.g. a topology level's shift).
constexpr uint64_t bits(uint64_t value, unsigned low, unsigned width) noexcept {
  return (value >> low) & low_mask(width);
}

namespace detail {
template <bool Condition, class Then, class Else> struct conditional { using type = Then; };
template <class Then, class Else> struct conditional<false, Then, Else> { using type = Else; };
template <bool Condition, class Then, class Else>
using conditional_t = typename conditional<Condition, Then, Else>::type;

// The narrowest type that holds a field of `Width` bits: a one-bit field reads as a bool.
template <unsigned Width>
using field_value_t = conditional_t<
    Width == 1, bool,
    conditional_t<Width <= 8, uint8_t,
                  conditional_t<Width <= 16, uint16_t,
                                conditional_t<Width <= 32, uint32_t, uint64_t>>>>;
}  // namespace detail

// Bits High:Low of a register of up to 64 bits.
template <unsigned High, unsigned Low = High>
struct BitField {
  static_assert(High >= Low && High < 64, "a field is High:Low of a 64-bit register");
  using Value = detail::field_value_t<High - Low + 1>;
  static constexpr unsigned kLow = Low;
  static constexpr unsigned kWidth = High - Low + 1;
  static constexpr uint64_t kMask = low_mask(kWidth) << Low;

  // The field of `raw`, moved down to bit 0.
  constexpr Value operator()(uint64_t raw) const noexcept {
    return static_cast<Value>((raw >> Low) & low_mask(kWidth));
  }
  // `value` moved into the field's position; bits beyond the field's width are dropped.
  constexpr uint64_t of(uint64_t value) const noexcept { return (value & low_mask(kWidth)) << Low; }
};

template <unsigned High, unsigned Low = High>
inline constexpr BitField<High, Low> field{};

static_assert(field<31, 24>(0x1234'5678u) == 0x12 && field<7, 0>(0x1234'5678u) == 0x78);
static_assert(field<11>.kMask == 0x800 && field<11>(0x800) && !field<10>(0x800));
static_assert(field<51, 12>.kMask == 0x000F'FFFF'FFFF'F000ull && field<63, 32>.of(3) == 3ull << 32);
static_assert(field<19, 18>.of(0b111) == 0xC'0000);  // only the field's two bits

constexpr uint32_t load_le32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
constexpr uint64_t load_le64(const uint8_t* p) noexcept {
  return load_le32(p) | (uint64_t{load_le32(p + 4)} << 32);
}

}  // namespace smpboot
