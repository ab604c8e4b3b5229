// Loading the descriptor tables and GS base a boot record names (Intel SDM Vol. 3A 3.5.1
// "Segment Descriptor Tables", 6.10 "Interrupt Descriptor Table", 3.4.4 "Segment Loading
// Instructions in IA-32e Mode"). Inline asm, so it lives in arch/.
#pragma once

#include <stdint.h>

#include "../../hw/msr.hpp"
#include "../../percpu/cpu_record.hpp"

namespace smpboot::x86_64 {

struct [[gnu::packed]] DescriptorPointer {
  uint16_t limit;
  uint64_t base;
};
static_assert(sizeof(DescriptorPointer) == 10);

// lgdt, then reload CS with a far return (there is no far jump to an immediate in 64-bit mode)
// and the data segments, so no selector still points into the previous GDT.
inline void load_gdt(uint64_t base, uint16_t limit, uint16_t code_selector,
                     uint16_t data_selector) noexcept {
  const DescriptorPointer gdtr{limit, base};
  asm volatile(
      "lgdt %0\n\t"
      "pushq %q1\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n"
      "1:\n\t"
      "movw %w2, %%ds\n\t"
      "movw %w2, %%es\n\t"
      "movw %w2, %%ss\n\t"
      "movw %w2, %%fs\n\t"
      :
      : "m"(gdtr), "r"(uint64_t{code_selector}), "r"(uint32_t{data_selector})
      : "rax", "memory");
}

inline void load_idt(uint64_t base, uint16_t limit) noexcept {
  const DescriptorPointer idtr{limit, base};
  asm volatile("lidt %0" ::"m"(idtr) : "memory");
}

// Loading GS with a selector clears the hidden base, so write the MSR after any GS load.
inline void write_gs_base(uint64_t base) noexcept {
  asm volatile("wrmsr" ::"c"(msr::kIa32GsBase), "a"(uint32_t(base)), "d"(uint32_t(base >> 32))
               : "memory");
}

inline uint64_t read_gs_base() noexcept {
  uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr::kIa32GsBase));
  return (uint64_t{hi} << 32) | lo;
}

inline DescriptorPointer store_gdt() noexcept {
  DescriptorPointer p;
  asm volatile("sgdt %0" : "=m"(p));
  return p;
}

inline DescriptorPointer store_idt() noexcept {
  DescriptorPointer p;
  asm volatile("sidt %0" : "=m"(p));
  return p;
}

inline uint64_t read_stack_pointer() noexcept {
  uint64_t rsp;
  asm volatile("mov %%rsp, %0" : "=r"(rsp));
  return rsp;
}

// The record entry every wake path ends in, for paths that arrive in C++ (the NMI path): with
// rsp = record->stack_top and rdi = record, call record->entry(record), exactly what the tail
// of asm/trampoline.asm does. An NMI handler IRETs here (so NMIs are unblocked) with those two
// registers set. The entry never returns; if it did, the CPU parks.
static_assert(offsetof(CpuRecord, entry) == 8, "the thunk below calls *8(%rdi)");
[[gnu::naked]] inline void record_entry_thunk() noexcept {
  asm volatile(
      "xorl %ebp, %ebp\n\t"
      "call *8(%rdi)\n"
      "1:\n\t"
      "cli\n\t"
      "hlt\n\t"
      "jmp 1b");
}

}  // namespace smpboot::x86_64
