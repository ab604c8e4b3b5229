// Loading the descriptor tables and GS/FS bases a boot record names (Intel SDM Vol. 3A 3.5.1
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

// IA32_FS_BASE (Intel SDM Vol. 4, table 2-2 "IA-32 Architectural MSRs"; Vol. 3A 3.4.4 "Segment
// Loading Instructions in IA-32e Mode"): as for GS, a selector load clears it, so it is written
// after the segments.

inline void write_fs_base(uint64_t base) noexcept {
  asm volatile("wrmsr" ::"c"(msr::kIa32FsBase), "a"(uint32_t(base)), "d"(uint32_t(base >> 32))
               : "memory");
}

inline uint64_t read_fs_base() noexcept {
  uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr::kIa32FsBase));
  return (uint64_t{hi} << 32) | lo;
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

// The selectors of the kernel's GDT that install_record_state loads: the record holds the
// table, the kernel knows which descriptor is which (SDM Vol. 3A 3.4.2 "Segment Selectors":
// index << 3, TI = 0, RPL 0).
struct SegmentSelectors {
  uint16_t code;  // a 64-bit code descriptor (L = 1), loaded into CS
  uint16_t data;  // loaded into DS, ES, SS and FS
};
// The usual kernel GDT: null, 64-bit code (index 1), data (index 2).
inline constexpr SegmentSelectors kFlatSelectors{0x08, 0x10};

// The instructions install_record_state uses, as one policy so the choice of what to load can
// be checked on a host with a recording fake (tests/unit/test_cpu_state.cpp).
struct NativeDescriptors {
  void load_gdt(uint64_t base, uint16_t limit, uint16_t code, uint16_t data) noexcept {
    x86_64::load_gdt(base, limit, code, data);
  }
  void load_idt(uint64_t base, uint16_t limit) noexcept { x86_64::load_idt(base, limit); }
  void write_gs_base(uint64_t base) noexcept { x86_64::write_gs_base(base); }
  void write_fs_base(uint64_t base) noexcept { x86_64::write_fs_base(base); }
};

// Everything a record names for its CPU, loaded on the calling CPU, in the order that keeps
// each value: the GDT (only if gdt_limit != 0) with CS, DS, ES, SS and FS reloaded from it, then
// the GS and FS bases (a selector load clears the hidden base; SDM 3.4.4), then the IDT (only
// if idt_limit != 0). What an ApPlatform's install_cpu_state does on every wake path.
//
// Two ways to give a CPU its tables, both supported:
//  - tables built before the wake: the record names them, this loads them;
//  - tables built on the CPU itself (a per-CPU GDT and TSS made in install_cpu_state): the
//    record's gdt_limit/idt_limit are 0, this loads only the GS/FS bases, and the kernel's hook
//    builds and loads its own, then writes them into the record (gdt_base/gdt_limit,
//    idt_base/idt_limit) so the record says what the CPU runs on, as the NMI path for CPU0
//    will load them again. Until then an AP from the trampoline holds the trampoline's GDT in
//    the SIPI page (CS = 0x18, data 0x10) and no IDT; CPU0 by NMI holds the kernel's own.
template <class Descriptors>
void install_record_state(const CpuRecord& r, SegmentSelectors selectors,
                          Descriptors& descriptors) noexcept {
  if (r.gdt_limit != 0) descriptors.load_gdt(r.gdt_base, r.gdt_limit, selectors.code, selectors.data);
  descriptors.write_gs_base(r.gs_base);
  descriptors.write_fs_base(r.fs_base);
  if (r.idt_limit != 0) descriptors.load_idt(r.idt_base, r.idt_limit);
}

inline void install_record_state(const CpuRecord& r,
                                 SegmentSelectors selectors = kFlatSelectors) noexcept {
  NativeDescriptors native;
  install_record_state(r, selectors, native);
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
