// The example kernel's platform layer: everything a freestanding x86-64 kernel needs around
// smpboot and nothing smpboot itself provides. COM1 console, one shared IDT with a fault
// reporter, ACPI table lookup, TSC calibration, the Multiboot command line and memory map,
// the SIPI page, emulator exit, a bump allocator and port I/O. Booted by platform/boot.asm
// (Multiboot 1 or 2, identity-mapped 4 GiB); it does not manage memory, interrupt controllers
// beyond masking the 8259, or anything per-CPU (no TSS, no IST stacks). Of smpboot it uses
// only discovery/acpi.hpp (RSDP to tables) and boot/sipi_page.hpp (the SIPI page).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <smpboot/boot/sipi_page.hpp>

namespace platform {

// ---- Start-up -----------------------------------------------------------------------------------

// Call once on the BSP with kernel_main's argument, after serial_init(): reads the Multiboot 1
// or 2 information (boot.asm says which), copies the command line, the memory map and the
// RSDP of the Multiboot 2 ACPI tags into the kernel (the loader's copies lie outside the image
// and are not protected), and chooses the SIPI page.
void platform_init(uint32_t multiboot_info_phys);

// ---- What the boot loader handed over (boot_info.cpp) -------------------------------------------

enum class BootProtocol : uint8_t { kUnknown, kMultiboot1, kMultiboot2 };
BootProtocol boot_protocol_used();
const char* boot_protocol_name();  // "multiboot1", "multiboot2", "unknown"

// The firmware memory map, types reduced to smpboot's: from the Multiboot 2 EFI memory map
// tag when there is one (EfiConventionalMemory, and after ExitBootServices the boot services'
// and loader's memory, are usable), else the Multiboot 2 or Multiboot 1 mmap (E820 types).
// At most 256 entries are kept (memory_map_dropped() counts the rest).
const smpboot::MemoryRange* memory_map(size_t& count);
// "mb2-efi-mmap", "mb2-efi-mmap-boot-services", "mb2-mmap", "mb1-mmap" or "none".
const char* memory_map_source();
size_t memory_map_dropped();

// The SIPI start page, chosen by smpboot::choose_sipi_page (highest free page) from the memory
// map, minus the kernel image (with its boot page tables and stacks) and the Multiboot
// information, below the EBDA (BDA word 0x40E). 0 when no page qualifies: sipi_page_error()
// then says why (smpboot::Error::kNoSipiPage, e.g. without a memory map).
uint64_t sipi_page_phys();
smpboot::Error sipi_page_error();
uint16_t ebda_segment();  // the BDA word at 0x40E as read at boot

// ---- Port I/O (Intel SDM Vol. 1, "Input/Output": I/O port addressing) ---------------------------

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
  uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline uint16_t inw(uint16_t port) {
  uint16_t v;
  asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline uint32_t inl(uint16_t port) {
  uint32_t v;
  asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

inline void cpu_pause() { asm volatile("pause" ::: "memory"); }

// cli; hlt forever. NMIs still arrive (and return into the loop).
[[noreturn]] void cpu_halt_forever();

// ---- Console: COM1 0x3F8, 115200 8N1, polled ----------------------------------------------------

void serial_init();
// Raw output, no locking: hold console_lock() when several CPUs may print. '\n' is sent as is
// (no CR), then waits until the UART is empty, so a line is complete before a crash.
void serial_putc(char c);
void serial_write(const char* s);
// A ticket lock (FIFO, so no CPU starves). Not recursive; do not take it in an interrupt
// handler that may interrupt a holder on the same CPU.
void console_lock();
void console_unlock();

// printf subset: %s %c %d %i %u %x %X %p %% with l / ll / z length modifiers, '-' and '0'
// flags and a field width (%08x, %5u, %-10s). Takes the console lock for the whole call, so
// lines from different CPUs do not interleave; never call it while holding the lock.
void kprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- Interrupts ---------------------------------------------------------------------------------

// The stack as isr.asm leaves it: the saved GPRs, the vector, the error code (0 if the CPU
// pushes none), then the CPU's frame (SDM Vol. 3A 7.14.2 "64-Bit Mode Stack Frame"). A handler
// may modify it: the registers and RIP/RFLAGS are restored from it by IRETQ.
struct InterruptFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(InterruptFrame) == 22 * 8, "isr.asm pushes exactly 22 quadwords");

using InterruptHandler = void (*)(InterruptFrame&);

// Builds the one IDT all CPUs share (interrupt gates, selector 0x08, no IST) and remaps and
// masks the 8259 PICs, whose BIOS setup would deliver IRQ 0-7 on exception vectors 8-15.
void idt_init();
// lidt on the calling CPU.
void idt_load();
void idt_pointer(uint64_t& base, uint16_t& limit);
// Handlers run with interrupts off on the interrupted stack. nullptr removes one. An
// exception (0-31, including NMI 2) without a handler prints a report and calls
// exit_emulator(0x40 + vector); other vectors without a handler print one line and return.
void set_handler(uint8_t vector, InterruptHandler h);
// Points the gate of `vector` at an entry of the caller's instead of isr.asm's stub (the stub's
// handler is then never called): an interrupt gate on selector 0x08, no IST, like every other.
void set_gate(uint8_t vector, const void* entry);
inline constexpr uint8_t kNmiVector = 2;  // SDM Vol. 3A table 6-1 "Protected-Mode Exceptions and Interrupts"

// The calling CPU's local APIC ID: x2APIC ID (MSR 802H) if IA32_APIC_BASE.EXTD is set, else
// the xAPIC ID register (base + 20H, bits 31:24). False if the APIC is absent or disabled.
bool current_apic_id(uint32_t& id);

// ---- ACPI (ACPI 6.5: 5.2.5 RSDP, 5.2.7 RSDT, 5.2.8 XSDT, 5.2.9 FADT) ----------------------------

struct AcpiTable {
  const uint8_t* data;  // the whole table, header included; nullptr if not found
  uint32_t length;      // the header's Length field, already checked
};

struct AcpiInfo {
  const char* rsdp_source = "none";  // "mb2-acpi-new", "mb2-acpi-old", "bios-scan", "none"
  uint64_t rsdp_phys = 0;         // 0 when the RSDP came as a copy (Multiboot 2 ACPI tags)
  uint8_t rsdp_revision = 0;      // 0 = ACPI 1.0 (RSDT only), 2 = ACPI 2.0+ (XSDT)
  bool using_xsdt = false;
  char oem_id[7] = {};
  uint16_t pm_timer_port = 0;     // 0: no PM timer
  bool pm_timer_32bit = false;    // FADT flag TMR_VAL_EXT; else the timer is 24 bits wide
  uint16_t pm1a_cnt_port = 0;
  uint16_t pm1b_cnt_port = 0;
  uint16_t smi_cmd_port = 0;
  uint8_t acpi_enable_value = 0;
  bool s5_found = false;          // \_S5_ package found in the DSDT or an SSDT
  uint8_t s5_slp_typ_a = 0;
  uint8_t s5_slp_typ_b = 0;
};

// Takes the RSDP from the Multiboot 2 ACPI tag (new, then old) or else the BIOS areas
// (EBDA's first KiB, then 0xE0000-0xFFFFF), all through smpboot's discovery/acpi.hpp, then
// the XSDT (if the RSDP is revision 2+; the RSDT if the XSDT does not check out) or the RSDT,
// and parses the FADT. Tables whose header length or checksum is wrong, or which lie above
// 4 GiB (unmapped), are left out. Idempotent; tsc_calibrate() calls it for the PM timer. False
// if there is no usable RSDP or root table.
bool acpi_init();
// The instance-th table with this signature. "DSDT" (reached through the FADT) works too.
AcpiTable acpi_find(const char sig[4], uint32_t instance = 0);
// All tables found, in XSDT/RSDT order, then the DSDT.
uint32_t acpi_table_count();
AcpiTable acpi_table_at(uint32_t index);
const AcpiInfo& acpi_info();

// ---- Time ---------------------------------------------------------------------------------------

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t{hi} << 32) | lo;
}
// Measures the TSC over 50 ms of the ACPI PM timer (3.579545 MHz, ACPI 6.5 "Power Management
// Timer (PM_TMR)"), or of PIT channel 2 (1.193182 MHz) when there is no PM timer.
void tsc_calibrate();
uint64_t tsc_hz();                      // calibrates first if nobody has
const char* tsc_calibration_source();   // "acpi-pm", "pit" or "none"
uint64_t tsc_to_us(uint64_t ticks);
void delay_us(uint64_t us);             // busy-waits on the TSC

// ---- Command line -------------------------------------------------------------------------------

// The Multiboot command line; "" if none. QEMU's starts with the kernel path, GRUB's with the
// path from `multiboot`: look options up by key, not by position. The kernel keeps up to
// kCmdlineMaxBytes - 1 characters; a longer line is refused whole (cmdline_complete() is
// false and no key is found), never used truncated.
inline constexpr size_t kCmdlineMaxBytes = 4096;
const char* cmdline();
bool cmdline_complete();
size_t cmdline_given_bytes();  // the boot loader's length (counted up to 1 MiB)

// A value on the command line: a view into the kernel's copy, not NUL-terminated.
struct CmdlineValue {
  const char* data = nullptr;
  size_t length = 0;
  bool equals(const char* s) const {
    for (size_t i = 0; i < length; ++i) {
      if (s[i] != data[i]) return false;  // also stops at the end of a shorter s
    }
    return s[length] == '\0';
  }
};
// Finds a whitespace-separated `key=value` token (the last one wins) and gives its whole
// value. A bare `key` gives an empty value. False if the key is absent.
bool cmdline_get(const char* key, CmdlineValue& value);
// The same, copied and NUL-terminated into out: a value of out_len characters or more gives
// "" (never a truncated value).
bool cmdline_get(const char* key, char* out, size_t out_len);

// ---- Leaving ------------------------------------------------------------------------------------

// QEMU isa-debug-exit (port 0xF4: QEMU exits with status code * 2 + 1), then ACPI soft-off
// (S5), which ends Bochs, then the Bochs/QEMU "Shutdown" port 0x8900, then halts forever.
[[noreturn]] void exit_emulator(uint8_t code);

// ---- Memory -------------------------------------------------------------------------------------

// Bump allocator over a 16 MiB .bss pool (zeroed at boot); never frees. align must be a power
// of two. Safe on several CPUs at once. nullptr when the pool is exhausted.
void* boot_alloc(size_t bytes, size_t align);
size_t boot_alloc_remaining();

// Physical address of the PML4 that boot.asm built (identity map of 4 GiB, below 4 GiB).
uint64_t kernel_pml4_phys();

}  // namespace platform

// The compiler may emit calls to these for copies and zeroing.
extern "C" {
void* memset(void* dst, int c, size_t n);
void* memcpy(void* __restrict dst, const void* __restrict src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
int memcmp(const void* a, const void* b, size_t n);
}
