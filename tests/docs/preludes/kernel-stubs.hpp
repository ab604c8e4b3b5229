// Prelude for the C++ code blocks of the docs (tests/docs/check_code_blocks.py, a block marked
// <!-- docs-check: prelude=kernel-stubs -->): what the *kernel* gives the snippets, declared
// only. Nothing here defines or stands in for a name of the library: a snippet that uses a
// smpboot name that does not exist must fail, so the library is not included here either (a
// block includes it itself). Add a name only if a kernel would provide it.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace smpboot {
struct CpuRecord;
struct WaitDeadline;
struct InterruptsSaved;
}  // namespace smpboot

// Failure and logging.
[[noreturn]] void panic(const char* what, const char* why) noexcept;
[[gnu::format(printf, 1, 2)]] void kprintf(const char* format, ...) noexcept;

// Memory: the kernel's allocators and its direct map.
uint64_t alloc_stack(size_t bytes) noexcept;          // the top of a fresh stack, 16-byte aligned
uint64_t alloc_percpu(uint32_t cpu_index) noexcept;   // a CPU's per-CPU area (its GS base)
void* phys_to_virt(uint64_t phys) noexcept;
uint64_t virt_to_phys(const void* virt) noexcept;

// A hypervisor's MMIO hypercalls (docs/policies.md: a policy of your own).
uint32_t hv_mmio_read(uint64_t phys) noexcept;
void hv_mmio_write(uint64_t phys, uint32_t value) noexcept;

// Descriptor tables the kernel built.
uint64_t my_gdt_for(uint32_t cpu_index) noexcept;
extern const uint16_t my_gdt_limit;
extern const uint64_t my_idt;
extern const uint16_t my_idt_limit;

// Time: the TSC, its calibration, a busy wait, the local APIC timer.
uint64_t rdtsc() noexcept;
uint64_t tsc_to_us(uint64_t ticks) noexcept;
void busy_wait_us(uint64_t us) noexcept;
void arm_one_shot_timer_us(uint64_t us) noexcept;

// A kernel's own Clock and Waiter (docs/porting-guide.md shows how to write them).
struct KernelClock {
  uint64_t now_us() noexcept;
  void delay_us(uint64_t us) noexcept;
};
struct KernelWaiter {
  void wait(const smpboot::WaitDeadline& deadline) noexcept;
  smpboot::InterruptsSaved mask_interrupts() noexcept;
  void restore_interrupts(smpboot::InterruptsSaved saved) noexcept;
};

// The scheduler's idle loop: a CPU's life while online (ApPlatform::run). Never returns.
[[noreturn]] void scheduler_idle(smpboot::CpuRecord& self) noexcept;

// Fills one CPU's boot record: stack, GDT, GS base, IDT, entry (porting guide, section 3).
void prepare_boot_record(smpboot::CpuRecord& cpu) noexcept;

// The frame the kernel's NMI stub saved; IRET resumes from it.
struct Frame {
  uint64_t rdi;
  uint64_t rip, cs, rflags, rsp, ss;
};
