// The I/O seam: the only ways smpboot touches hardware. Native versions live in arch/x86_64/,
// recording fakes in testing/. Each requirement states its exact type and noexcept, so a
// provider that drifts from the contract fails to compile where it is checked.
#pragma once

#include <stdint.h>

#include "../core/types.hpp"
#include "../hw/cpuid.hpp"

namespace smpboot {

// A window of 32-bit registers (e.g. the xAPIC page); offsets are bytes from the window base.
// Every access is exactly one 32-bit load or store (SDM 11.4.1: APIC registers must be
// accessed with aligned 32-bit operations).
template <class T>
concept MmioWindow = requires(T& m, uint32_t offset, uint32_t value) {
  { m.read32(offset) } noexcept -> SameAs<uint32_t>;
  { m.write32(offset, value) } noexcept -> SameAs<void>;
};

// fence_before_apic_write(): WRMSR to an x2APIC register is not serializing, so a store made
// before it may not yet be visible to the CPU the IPI reaches; the SDM's remedy is MFENCE then
// LFENCE before the WRMSR (Intel SDM Vol. 3A 11.12.3 "MSR Access in x2APIC Mode"). X2Apic
// calls it before every ICR write; fakes record it so a test can pin the order.
template <class T>
concept MsrPort = requires(T& m, uint32_t msr, uint64_t value) {
  { m.read(msr) } noexcept -> SameAs<uint64_t>;
  { m.write(msr, value) } noexcept -> SameAs<void>;
  { m.fence_before_apic_write() } noexcept -> SameAs<void>;
};

template <class T>
concept CpuidSource = requires(T& c, uint32_t leaf, uint32_t subleaf) {
  { c.cpuid(leaf, subleaf) } noexcept -> SameAs<CpuidRegs>;
};

// The CPU's own time and waiting: a spin hint, a time stamp counter, and a sleep until the next
// interrupt (what waiting CPUs must do under emulation, where spinning starves other vCPUs).
template <class T>
concept CpuControl = requires(T& c) {
  { c.pause() } noexcept -> SameAs<void>;
  { c.read_tsc() } noexcept -> SameAs<uint64_t>;
};

// x86 port I/O (IN/OUT, SDM Vol. 1 18.2 "I/O Port Addressing"): what the legacy timers need,
// the PIT and its channel-2 gate at port 61h (8 bits) and the ACPI PM timer (32 bits). Each call
// is exactly one IN or OUT of that width.
template <class T>
concept PortIo = requires(T& io, uint16_t port, uint8_t value) {
  { io.in8(port) } noexcept -> SameAs<uint8_t>;
  { io.out8(port, value) } noexcept -> SameAs<void>;
  { io.in32(port) } noexcept -> SameAs<uint32_t>;
};

// The waiting CPU's interrupt flag (RFLAGS.IF) from before a wait masked it.
struct InterruptsSaved {
  bool were_enabled = false;
};

// Sleeping until the next interrupt: enable interrupts, halt, and disable them again when an
// interrupt has been handled (`sti; hlt; cli`). Called with interrupts disabled, so a wake
// source armed just before (a one-shot timer) cannot fire unseen between arming and halting:
// its interrupt stays pending until STI, whose one-instruction shadow covers the HLT.
// mask_interrupts() (CLI, returning whether IF was set) and restore_interrupts() (STI if it
// was) are what a wait brackets its check-then-sleep loop with (concepts/waiter.hpp).
template <class T>
concept CpuHalt = requires(T& h, InterruptsSaved saved) {
  { h.halt_until_interrupt() } noexcept -> SameAs<void>;
  { h.mask_interrupts() } noexcept -> SameAs<InterruptsSaved>;
  { h.restore_interrupts(saved) } noexcept -> SameAs<void>;
};

}  // namespace smpboot
