// The PC's timers of known rate that a TSC is calibrated against: counter 2 of the 8254 PIT,
// whose GATE and OUT the PC wires to port 61h for the speaker (Intel 8254 "Programmable
// Interval Timer" data sheet: control word format, mode 0 "Interrupt on Terminal Count"), and
// the ACPI PM timer (ACPI 6.5 4.8.3.3 "Power Management Timer (PM_TMR)"). Counters 0 and 1,
// the read-back command and the PM timer's overflow event are deliberately not described.
#pragma once

#include <stdint.h>

#include "../core/bits.hpp"

namespace smpboot {

namespace pit {
// The 8254's CLK input on every PC: the 14.31818 MHz crystal divided by 12.
inline constexpr uint64_t kInputHz = 1'193'182;
inline constexpr uint16_t kCounter2Port = 0x42;
inline constexpr uint16_t kControlPort = 0x43;
// Port 61h ("NMI Status and Control" in Intel PCH data sheets): counter 2's GATE and OUT.
inline constexpr uint16_t kGatePort = 0x61;

// The control word written to port 43h (8254 data sheet, "Control Word Format").
namespace control {
inline constexpr BitField<7, 6> kSelectCounter{};
inline constexpr BitField<5, 4> kReadWrite{};
inline constexpr BitField<3, 1> kMode{};
inline constexpr BitField<0> kBcd{};
inline constexpr uint32_t kCounter2 = 0b10;
inline constexpr uint32_t kLsbThenMsb = 0b11;
// Mode 0: OUT goes low when the control word is written, the count runs while GATE is high,
// and OUT goes high when it reaches zero and stays high.
inline constexpr uint32_t kModeInterruptOnTerminalCount = 0b000;
}  // namespace control

// Counter 2, LSB then MSB, mode 0, binary.
inline constexpr uint8_t kCounter2Mode0 =
    uint8_t(control::kSelectCounter.of(control::kCounter2) |
            control::kReadWrite.of(control::kLsbThenMsb) |
            control::kMode.of(control::kModeInterruptOnTerminalCount));
static_assert(kCounter2Mode0 == 0xB0);  // what Linux's pit_calibrate_tsc writes

// Port 61h bits: 3:0 read/write (GATE2, speaker enable, and two NMI enables to keep), 7:4
// read-only status (OUT2 among them).
namespace port61 {
inline constexpr BitField<3, 0> kWritable{};
inline constexpr BitField<0> kGate2{};
inline constexpr BitField<1> kSpeakerData{};
inline constexpr BitField<5> kOut2{};
}  // namespace port61
}  // namespace pit

namespace pm_timer {
// PM_TMR counts at 3.579545 MHz (the NTSC colour-burst crystal), in 24 bits, or 32 bits when
// the FADT flag TMR_VAL_EXT is set; bits 31:24 of a 24-bit timer are reserved.
inline constexpr uint64_t kHz = 3'579'545;
inline constexpr uint32_t kMask24 = 0x00FF'FFFF;
inline constexpr uint32_t kMask32 = 0xFFFF'FFFF;
}  // namespace pm_timer

}  // namespace smpboot
