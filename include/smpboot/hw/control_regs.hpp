// The control-register bits the AP trampoline (asm/trampoline.asm) sets on its way from real
// mode to long mode (Intel SDM Vol. 3A 2.5 "Control Registers", 10.8.5 "Initializing IA-32e
// Mode"). Defined here so the trampoline takes them from the generated layout include instead
// of typing them; C++ code does not write control registers. EFER's bits are in msr.hpp.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"

namespace smpboot {

inline constexpr uint64_t kCr0Pe = field<0>.kMask;   // protection enable
inline constexpr uint64_t kCr0Nw = field<29>.kMask;  // not write-through (set by INIT)
inline constexpr uint64_t kCr0Cd = field<30>.kMask;  // cache disable (set by INIT)
inline constexpr uint64_t kCr0Pg = field<31>.kMask;  // paging
inline constexpr uint64_t kCr4Pae = field<5>.kMask;  // physical address extension

// INIT leaves CR0 = 6000_0010H (10.1.1 "Processor State After Reset"): CD and NW set.
static_assert((kCr0Cd | kCr0Nw) == 0x6000'0000 && kCr0Pg == 0x8000'0000 && kCr4Pae == 0x20);

}  // namespace smpboot
