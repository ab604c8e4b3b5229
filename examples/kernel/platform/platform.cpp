// Start-up glue: the command line (boot_info.cpp finds it in the Multiboot 1 or 2
// information), leaving the emulator, the boot allocator and the memory functions the
// compiler may call.
#include "internal.hpp"

extern "C" uint8_t kernel_pml4[];  // boot.asm

namespace platform {
namespace {

constexpr size_t kPoolBytes = 16u << 20;
constexpr size_t kCmdlineScanBytes = 1u << 20;  // a bound, should a loader forget the NUL

constinit char g_cmdline[kCmdlineMaxBytes] = {};
constinit size_t g_cmdline_given = 0;
alignas(4096) constinit uint8_t g_pool[kPoolBytes] = {};
constinit size_t g_pool_used = 0;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

void platform_init(uint32_t multiboot_info_phys) {
  g_cmdline[0] = '\0';
  const char* src = detail::read_boot_info(multiboot_info_phys);
  if (!src) return;
  size_t n = 0;
  for (; n + 1 < kCmdlineMaxBytes && src[n]; ++n) g_cmdline[n] = src[n];
  g_cmdline[n] = '\0';
  while (n < kCmdlineScanBytes && src[n]) ++n;
  g_cmdline_given = n;
}

const char* cmdline() { return g_cmdline; }
bool cmdline_complete() { return g_cmdline_given < kCmdlineMaxBytes; }
size_t cmdline_given_bytes() { return g_cmdline_given; }

bool cmdline_get(const char* key, CmdlineValue& out) {
  if (!cmdline_complete()) return false;
  size_t key_len = 0;
  while (key[key_len]) ++key_len;
  const char* value = nullptr;
  size_t value_len = 0;
  for (const char* p = g_cmdline; *p;) {
    while (is_space(*p)) ++p;
    const char* tok = p;
    while (*p && !is_space(*p)) ++p;
    const size_t tok_len = size_t(p - tok);
    if (tok_len < key_len || memcmp(tok, key, key_len) != 0) continue;
    if (tok_len == key_len) {
      value = tok + key_len;
      value_len = 0;
    } else if (tok[key_len] == '=') {
      value = tok + key_len + 1;
      value_len = tok_len - key_len - 1;
    }
  }
  if (!value) return false;
  out = CmdlineValue{value, value_len};
  return true;
}

bool cmdline_get(const char* key, char* out, size_t out_len) {
  CmdlineValue value;
  if (!cmdline_get(key, value)) return false;
  if (out && out_len) {
    const size_t n = value.length < out_len ? value.length : 0;
    memcpy(out, value.data, n);
    out[n] = '\0';
  }
  return true;
}

[[noreturn]] void cpu_halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

[[noreturn]] void exit_emulator(uint8_t code) {
  detail::serial_drain();
  // QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04 exits with status (code << 1) | 1.
  // Bochs only logs the write ("unmapped: 8-bit write to 00f4"), which run-bochs.sh reads.
  outb(0xF4, code);

  // ACPI soft-off (S5): SLP_TYPx from \_S5 into PM1x_CNT bits 12:10 together with SLP_EN
  // (bit 13); ACPI 6.5 "PM1 Control Registers" and "Transitioning from the Working to the Soft
  // Off State". Hardware honours it in ACPI mode (SCI_EN = PM1_CNT bit 0), so switch to that
  // first through SMI_CMD/ACPI_ENABLE (FADT) if the firmware has not ("Legacy/ACPI Select").
  const AcpiInfo& acpi = acpi_init() ? acpi_info() : AcpiInfo{};
  if (acpi.s5_found && acpi.pm1a_cnt_port) {
    if (!(inw(acpi.pm1a_cnt_port) & 1) && acpi.smi_cmd_port && acpi.acpi_enable_value) {
      outb(acpi.smi_cmd_port, acpi.acpi_enable_value);
      for (uint32_t i = 0; i < 10'000'000 && !(inw(acpi.pm1a_cnt_port) & 1); ++i) cpu_pause();
    }
    constexpr uint16_t kSlpTypMask = 7u << 10, kSlpEn = 1u << 13;
    const auto pm1_value = [](uint16_t port, uint8_t typ) {
      return uint16_t((inw(port) & ~kSlpTypMask) | uint16_t(typ << 10) | kSlpEn);
    };
    if (acpi.pm1b_cnt_port) {
      outw(acpi.pm1b_cnt_port, pm1_value(acpi.pm1b_cnt_port, acpi.s5_slp_typ_b));
    }
    outw(acpi.pm1a_cnt_port, pm1_value(acpi.pm1a_cnt_port, acpi.s5_slp_typ_a));
  }

  // Bochs' (and old QEMU's) shutdown port: the string "Shutdown" ends the emulator.
  for (const char* s = "Shutdown"; *s; ++s) outb(0x8900, uint8_t(*s));
  cpu_halt_forever();
}

void* boot_alloc(size_t bytes, size_t align) {
  if (align == 0 || (align & (align - 1)) != 0) return nullptr;
  size_t used = __atomic_load_n(&g_pool_used, __ATOMIC_RELAXED);
  for (;;) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(g_pool);
    const uintptr_t start = (base + used + align - 1) & ~(uintptr_t(align) - 1);
    const size_t end = size_t(start - base) + bytes;
    if (start < base + used || end > kPoolBytes || end < bytes) return nullptr;
    if (__atomic_compare_exchange_n(&g_pool_used, &used, end, true, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
      return reinterpret_cast<void*>(start);
    }
  }
}

size_t boot_alloc_remaining() {
  return kPoolBytes - __atomic_load_n(&g_pool_used, __ATOMIC_RELAXED);
}

uint64_t kernel_pml4_phys() { return reinterpret_cast<uint64_t>(kernel_pml4); }

}  // namespace platform

// String instructions rather than C loops: GCC turns such loops back into calls to these very
// functions (-ftree-loop-distribute-patterns), even when freestanding. DF is 0 in C++ code
// (SysV ABI 3.2.1), so the forward forms need no CLD.
extern "C" {

void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}

void* memcpy(void* __restrict dst, const void* __restrict src, size_t n) {
  void* d = dst;
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  const auto d = reinterpret_cast<uintptr_t>(dst);
  const auto s = reinterpret_cast<uintptr_t>(src);
  if (d <= s || d >= s + n) {
    // A forward byte copy is correct for dst below src even when they overlap.
    void* dp = dst;
    asm volatile("rep movsb" : "+D"(dp), "+S"(src), "+c"(n) : : "memory");
    return dst;
  }
  // dst overlaps the end of src: copy backwards from the last byte.
  void* dl = reinterpret_cast<void*>(d + n - 1);
  const void* sl = reinterpret_cast<const void*>(s + n - 1);
  asm volatile("std; rep movsb; cld" : "+D"(dl), "+S"(sl), "+c"(n) : : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

}  // extern "C"
