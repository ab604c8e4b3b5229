// Native providers of the I/O seam for ring 0 on x86-64. Inline assembly lives only in
// arch/x86_64/ (this file and descriptors.hpp); everything above it runs on a host against
// the fakes in testing/.
#pragma once

#include <stdint.h>

#include "../../concepts/io.hpp"

namespace smpboot::x86_64 {

// A mapped register window. `base` must be mapped uncached (the xAPIC page is; SDM 11.4.1).
class NativeMmio {
 public:
  constexpr explicit NativeMmio(uintptr_t base) noexcept : base_(base) {}
  uint32_t read32(uint32_t offset) noexcept {
    return *reinterpret_cast<volatile const uint32_t*>(base_ + offset);
  }
  void write32(uint32_t offset, uint32_t value) noexcept {
    *reinterpret_cast<volatile uint32_t*>(base_ + offset) = value;
  }

 private:
  uintptr_t base_;
};

struct NativeMsr {
  uint64_t read(uint32_t msr) noexcept {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t{hi} << 32) | lo;
  }
  // The "memory" clobber keeps the compiler from moving stores across the write; the CPU is
  // kept from it by fence_before_apic_write (x2APIC WRMSRs are not serializing).
  void write(uint32_t msr, uint64_t value) noexcept {
    asm volatile("wrmsr" ::"c"(msr), "a"(uint32_t(value)), "d"(uint32_t(value >> 32))
                 : "memory");
  }
  // SDM Vol. 3A 11.12.3 "MSR Access in x2APIC Mode": MFENCE; LFENCE before the WRMSR makes every
  // earlier store globally visible first (what Linux's weak_wrmsr_fence does).
  void fence_before_apic_write() noexcept { asm volatile("mfence; lfence" ::: "memory"); }
};

struct NativeCpuid {
  CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) noexcept {
    CpuidRegs r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                 : "a"(leaf), "c"(subleaf));
    return r;
  }
};

struct NativeCpu {
  void pause() noexcept { asm volatile("pause" ::: "memory"); }
  uint64_t read_tsc() noexcept {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
  }
  // Sleep until an interrupt arrives; interrupts must be enabled and a wake IPI pending-able.
  void halt() noexcept { asm volatile("hlt" ::: "memory"); }
  // Enable interrupts and halt atomically (STI's one-instruction shadow covers HLT), so a wake
  // IPI that arrives after the caller checked its condition cannot be lost.
  void enable_interrupts_and_halt() noexcept { asm volatile("sti; hlt" ::: "memory"); }
  void disable_interrupts() noexcept { asm volatile("cli" ::: "memory"); }
  void enable_interrupts() noexcept { asm volatile("sti" ::: "memory"); }
};

// Port I/O in ring 0 (IOPL or the TSS bitmap must allow it elsewhere).
struct NativePortIo {
  uint8_t in8(uint16_t port) noexcept {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
  }
  void out8(uint16_t port, uint8_t value) noexcept {
    asm volatile("outb %0, %1" ::"a"(value), "Nd"(port) : "memory");
  }
  uint32_t in32(uint16_t port) noexcept {
    uint32_t v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
  }
};

// `sti; hlt; cli`: STI's shadow covers HLT, so an interrupt pending before STI (a timer armed
// with interrupts off) wakes the HLT instead of being taken before it; CLI restores the
// caller's interrupts-off state once the handler has run.
// mask_interrupts/restore_interrupts: PUSHFQ to read RFLAGS.IF (bit 9) before CLI, and STI
// only if it was set. A kernel's own Waiter forwards its two members to these.
struct NativeCpuHalt {
  void halt_until_interrupt() noexcept { asm volatile("sti; hlt; cli" ::: "memory"); }
  InterruptsSaved mask_interrupts() noexcept {
    uint64_t rflags;
    asm volatile("pushfq; popq %0; cli" : "=r"(rflags) : : "memory");
    return InterruptsSaved{.were_enabled = (rflags & (uint64_t{1} << 9)) != 0};
  }
  void restore_interrupts(InterruptsSaved saved) noexcept {
    if (saved.were_enabled) asm volatile("sti" ::: "memory");
  }
};

static_assert(MmioWindow<NativeMmio>);
static_assert(MsrPort<NativeMsr>);
static_assert(CpuidSource<NativeCpuid>);
static_assert(CpuControl<NativeCpu>);
static_assert(PortIo<NativePortIo>);
static_assert(CpuHalt<NativeCpuHalt>);

}  // namespace smpboot::x86_64
