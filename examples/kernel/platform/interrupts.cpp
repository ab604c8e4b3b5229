// One IDT for every CPU, the C++ side of isr.asm, and the report for unhandled exceptions.
// Gate format: Intel SDM Vol. 3A 7.14.1 "64-Bit Mode IDT" (figure 7-8); exception list and
// error codes: 7.3 "Sources of Interrupts" table 7-1 and 7.15 "Exception and Interrupt
// Reference". No IST: a kernel stack overflow ends in a triple fault, not in a report.
#include "internal.hpp"

extern "C" const uint64_t platform_isr_table[256];  // isr.asm: entry stub per vector

namespace platform {
namespace {

struct IdtGate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
};
static_assert(sizeof(IdtGate) == 16);

constexpr uint16_t kKernelCode = 0x08;       // boot.asm's GDT and the kernel's per-CPU GDTs
constexpr uint8_t kInterruptGate = 0x8E;     // P=1, DPL=0, type 1110b: IF cleared on entry

alignas(4096) constinit IdtGate g_idt[256] = {};
constinit InterruptHandler g_handlers[256] = {};
constinit uint32_t g_fatal_reporting = 0;

constexpr const char* kExceptionNames[32] = {
    "#DE divide error",          "#DB debug",
    "NMI",                       "#BP breakpoint",
    "#OF overflow",              "#BR BOUND range exceeded",
    "#UD invalid opcode",        "#NM device not available",
    "#DF double fault",          "coprocessor segment overrun",
    "#TS invalid TSS",           "#NP segment not present",
    "#SS stack-segment fault",   "#GP general protection",
    "#PF page fault",            "reserved 15",
    "#MF x87 floating-point",    "#AC alignment check",
    "#MC machine check",         "#XM SIMD floating-point",
    "#VE virtualization",        "#CP control protection",
    "reserved 22",               "reserved 23",
    "reserved 24",               "reserved 25",
    "reserved 26",               "reserved 27",
    "#HV hypervisor injection",  "#VC VMM communication",
    "#SX security",              "reserved 31",
};

// 8259A PIC (Intel 8259A data sheet, "Initialization Command Words"). The BIOS leaves the
// master on vectors 8-15, on top of CPU exceptions, with the timer IRQ unmasked, and the local
// APIC's LINT0 in ExtINT mode passes it through. Move both PICs to 0x20-0x2F and mask all
// lines; the kernel uses local APIC interrupts only.
constexpr uint16_t kPic1Cmd = 0x20, kPic1Data = 0x21, kPic2Cmd = 0xA0, kPic2Data = 0xA1;
constexpr uint8_t kPicVectorBase = 0x20;

void io_wait() { outb(0x80, 0); }  // POST port: a short delay between 8259 writes

void pic_remap_and_mask() {
  outb(kPic1Cmd, 0x11);  // ICW1: edge, cascade, ICW4 follows
  io_wait();
  outb(kPic2Cmd, 0x11);
  io_wait();
  outb(kPic1Data, kPicVectorBase);  // ICW2: vector base
  io_wait();
  outb(kPic2Data, kPicVectorBase + 8);
  io_wait();
  outb(kPic1Data, 0x04);  // ICW3: slave on IRQ2
  io_wait();
  outb(kPic2Data, 0x02);  // ICW3: slave identity 2
  io_wait();
  outb(kPic1Data, 0x01);  // ICW4: 8086 mode
  io_wait();
  outb(kPic2Data, 0x01);
  io_wait();
  outb(kPic1Data, 0xFF);  // OCW1: mask everything
  outb(kPic2Data, 0xFF);
}

uint64_t read_cr2() {
  uint64_t v;
  asm volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

// Page-fault error code bits, SDM Vol. 3A 5.7 "Page-Fault Exceptions" (figure 5-12).
void print_pf_error(uint64_t e) {
  detail::print_unlocked(" (%s, %s, %s%s%s)", e & 1 ? "protection" : "not present",
                         e & 2 ? "write" : "read", e & 4 ? "user" : "supervisor",
                         e & 8 ? ", reserved bit" : "", e & 16 ? ", instruction fetch" : "");
}

[[noreturn]] void report_and_exit(const InterruptFrame& f) {
  const uint8_t vector = uint8_t(f.vector);
  const uint8_t code = uint8_t(0x40 + vector);
  // One report: a second faulting CPU (or a fault inside the report) waits for the first to
  // end the run, and ends it itself only if that never happens.
  if (__atomic_exchange_n(&g_fatal_reporting, 1, __ATOMIC_ACQ_REL) != 0) {
    for (uint64_t i = 0; i < 50'000'000; ++i) cpu_pause();
    exit_emulator(code);
  }
  const uint64_t cr2 = vector == 14 ? read_cr2() : 0;  // before anything else can fault
  const bool locked = detail::console_lock_bounded(20'000'000);
  using detail::print_unlocked;
  uint32_t apic_id;
  print_unlocked("\n*** CPU EXCEPTION %u %s on CPU ", vector, kExceptionNames[vector]);
  if (current_apic_id(apic_id)) print_unlocked("apic=%u", apic_id);
  else print_unlocked("apic=unknown");
  print_unlocked("\n    error_code=0x%lx", f.error_code);
  if (vector == 14) print_pf_error(f.error_code);
  print_unlocked("\n    rip=0x%016lx cs=0x%lx rflags=0x%lx rsp=0x%016lx ss=0x%lx\n", f.rip, f.cs,
                 f.rflags, f.rsp, f.ss);
  if (vector == 14) print_unlocked("    cr2=0x%016lx\n", cr2);
  print_unlocked("    rax=0x%016lx rbx=0x%016lx rcx=0x%016lx rdx=0x%016lx\n", f.rax, f.rbx,
                 f.rcx, f.rdx);
  print_unlocked("    rsi=0x%016lx rdi=0x%016lx rbp=0x%016lx\n", f.rsi, f.rdi, f.rbp);
  print_unlocked("    r8 =0x%016lx r9 =0x%016lx r10=0x%016lx r11=0x%016lx\n", f.r8, f.r9,
                 f.r10, f.r11);
  print_unlocked("    r12=0x%016lx r13=0x%016lx r14=0x%016lx r15=0x%016lx\n", f.r12, f.r13,
                 f.r14, f.r15);
  print_unlocked("*** exiting with code 0x%x\n", code);
  detail::serial_drain();
  if (locked) console_unlock();
  exit_emulator(code);
}

IdtGate interrupt_gate(uint64_t entry) {
  return IdtGate{uint16_t(entry), kKernelCode, 0, kInterruptGate, uint16_t(entry >> 16),
                 uint32_t(entry >> 32), 0};
}

}  // namespace

extern "C" void platform_interrupt_dispatch(InterruptFrame* frame) {
  const uint8_t vector = uint8_t(frame->vector);
  if (InterruptHandler h = __atomic_load_n(&g_handlers[vector], __ATOMIC_ACQUIRE)) {
    h(*frame);
    return;
  }
  if (vector < 32) report_and_exit(*frame);
  // A masked 8259 can still signal a spurious IRQ 7/15 (8259A data sheet); ignore those.
  if (vector == kPicVectorBase + 7 || vector == kPicVectorBase + 15) return;
  // Bounded lock: this CPU may have been interrupted while holding it.
  const bool locked = detail::console_lock_bounded(20'000'000);
  uint32_t apic_id;
  detail::print_unlocked("platform: unhandled interrupt vector 0x%x on CPU ", vector);
  if (current_apic_id(apic_id)) detail::print_unlocked("apic=%u", apic_id);
  else detail::print_unlocked("apic=unknown");
  detail::print_unlocked(", ignored (no EOI sent)\n");
  if (locked) console_unlock();
}

void idt_init() {
  pic_remap_and_mask();
  for (int v = 0; v < 256; ++v) g_idt[v] = interrupt_gate(platform_isr_table[v]);
}

// The IDT is live on every CPU: the caller makes sure no CPU takes this vector meanwhile (the
// kernel sets its NMI gate before any CPU can be woken by NMI).
void set_gate(uint8_t vector, const void* entry) {
  g_idt[vector] = interrupt_gate(reinterpret_cast<uint64_t>(entry));
}

void idt_pointer(uint64_t& base, uint16_t& limit) {
  base = reinterpret_cast<uint64_t>(g_idt);
  limit = sizeof(g_idt) - 1;
}

void idt_load() {
  struct [[gnu::packed]] {
    uint16_t limit;
    uint64_t base;
  } idtr{sizeof(g_idt) - 1, reinterpret_cast<uint64_t>(g_idt)};
  asm volatile("lidt %0" ::"m"(idtr) : "memory");
}

void set_handler(uint8_t vector, InterruptHandler h) {
  __atomic_store_n(&g_handlers[vector], h, __ATOMIC_RELEASE);
}

bool current_apic_id(uint32_t& id) {
  // IA32_APIC_BASE (MSR 1BH) needs CPUID.01H:EDX.APIC[9] and .MSR[5]; SDM Vol. 3A 11.4.4
  // "Local APIC Status and Location", 11.12.1 "Detecting and Enabling x2APIC Mode".
  uint32_t r[4];
  detail::cpuid(1, 0, r);
  if (!(r[3] & (1u << 9)) || !(r[3] & (1u << 5))) return false;
  const uint64_t base = detail::rdmsr(0x1B);
  if (!(base & (1u << 11))) return false;  // EN = 0: the APIC is off
  if (base & (1u << 10)) {                 // EXTD = 1: x2APIC mode, the MMIO page is gone
    id = uint32_t(detail::rdmsr(0x802));
    return true;
  }
  const uint64_t mmio = base & 0xF'FFFF'F000ull;
  if (mmio >= detail::kMappedLimit) return false;
  id = *reinterpret_cast<volatile const uint32_t*>(mmio + 0x20) >> 24;
  return true;
}

}  // namespace platform
