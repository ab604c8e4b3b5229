// COM1 console: a polled 16550 UART, a ticket lock and a small printf.
// Register layout and bits: PC16550D data sheet (National/TI), "Registers" and "Line Status
// Register"; the divisor for 115200 baud from the 1.8432 MHz crystal is 1. No interrupts:
// MCR.OUT2 stays 0 so the UART never raises its IRQ line.
#include "internal.hpp"

namespace platform {
namespace {

constexpr uint16_t kCom1 = 0x3F8;
constexpr uint16_t kData = kCom1 + 0;        // THR/RBR, DLL when LCR.DLAB = 1
constexpr uint16_t kIer = kCom1 + 1;         // DLM when LCR.DLAB = 1
constexpr uint16_t kFcr = kCom1 + 2;
constexpr uint16_t kLcr = kCom1 + 3;
constexpr uint16_t kMcr = kCom1 + 4;
constexpr uint16_t kLsr = kCom1 + 5;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLcr8N1 = 0x03;            // 8 data bits, no parity, 1 stop bit
constexpr uint8_t kFcrEnableClear = 0x07;    // FIFO on, both FIFOs cleared
constexpr uint8_t kMcrDtrRts = 0x03;
constexpr uint8_t kLsrThre = 0x20;           // transmit holding register empty
constexpr uint8_t kLsrTemt = 0x40;           // holding and shift register empty
// A missing UART reads 0xFF (THRE set), so a poll never hangs there; a wedged one gets this
// many polls (far longer than one character at 115200 baud) before the byte is dropped.
constexpr uint32_t kPollLimit = 1'000'000;

struct TicketLock {
  uint32_t next = 0;
  uint32_t serving = 0;
};
constinit TicketLock g_console;

}  // namespace

void serial_init() {
  outb(kIer, 0);
  outb(kLcr, kLcrDlab);
  outb(kData, 1);  // divisor 1 = 115200 baud
  outb(kIer, 0);
  outb(kLcr, kLcr8N1);
  outb(kFcr, kFcrEnableClear);
  outb(kMcr, kMcrDtrRts);
}

void serial_putc(char c) {
  for (uint32_t i = 0; i < kPollLimit && !(inb(kLsr) & kLsrThre); ++i) cpu_pause();
  outb(kData, uint8_t(c));
  // Finish each line on the wire: if the machine dies next (a triple fault), Bochs would drop
  // what is still in the UART.
  if (c == '\n') detail::serial_drain();
}

void serial_write(const char* s) {
  while (*s) serial_putc(*s++);
}

void detail::serial_drain() {
  for (uint32_t i = 0; i < kPollLimit && !(inb(kLsr) & kLsrTemt); ++i) cpu_pause();
}

void console_lock() {
  const uint32_t ticket = __atomic_fetch_add(&g_console.next, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_console.serving, __ATOMIC_ACQUIRE) != ticket) cpu_pause();
}

void console_unlock() {
  // Only the holder writes `serving`, so a plain increment published with release suffices.
  const uint32_t s = __atomic_load_n(&g_console.serving, __ATOMIC_RELAXED);
  __atomic_store_n(&g_console.serving, s + 1, __ATOMIC_RELEASE);
}

bool detail::console_lock_bounded(uint64_t spins) {
  // Take a ticket only when it is next in line, so giving up never leaves a ticket behind
  // that nobody will serve.
  for (uint64_t i = 0; i < spins; ++i) {
    uint32_t s = __atomic_load_n(&g_console.serving, __ATOMIC_ACQUIRE);
    uint32_t expected = s;
    if (__atomic_compare_exchange_n(&g_console.next, &expected, s + 1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
      return true;
    }
    cpu_pause();
  }
  return false;
}

namespace {

// Formats one conversion's digits right-aligned in `buf` (no terminator); returns the count.
int format_unsigned(char* buf, uint64_t v, unsigned base, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v);
  for (int i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

void emit_padded(const char* s, int len, int width, bool left, char pad) {
  // Zero padding goes after a sign ("-0042"), space padding before it ("  -42").
  if (pad == '0' && len > 0 && s[0] == '-' && !left) {
    serial_putc('-');
    ++s;
    --len;
    --width;
  }
  if (!left)
    for (int i = len; i < width; ++i) serial_putc(pad);
  for (int i = 0; i < len; ++i) serial_putc(s[i]);
  if (left)
    for (int i = len; i < width; ++i) serial_putc(' ');
}

}  // namespace

void detail::vprint_unlocked(const char* fmt, __builtin_va_list args) {
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      serial_putc(*fmt);
      continue;
    }
    ++fmt;
    bool left = false;
    char pad = ' ';
    for (;; ++fmt) {
      if (*fmt == '-') left = true;
      else if (*fmt == '0') pad = '0';
      else break;
    }
    int width = 0;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int longs = 0;  // l, ll and z are all 64 bits on x86-64
    while (*fmt == 'l' || *fmt == 'z') ++longs, ++fmt;

    char buf[24];
    int len = 0;
    switch (*fmt) {
      case 'd':
      case 'i': {
        const int64_t v = longs ? __builtin_va_arg(args, int64_t) : __builtin_va_arg(args, int);
        uint64_t mag = v < 0 ? 0 - uint64_t(v) : uint64_t(v);
        if (v < 0) buf[len++] = '-';
        len += format_unsigned(buf + len, mag, 10, false);
        emit_padded(buf, len, width, left, pad);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        const uint64_t v =
            longs ? __builtin_va_arg(args, uint64_t) : __builtin_va_arg(args, unsigned int);
        len = format_unsigned(buf, v, *fmt == 'u' ? 10 : 16, *fmt == 'X');
        emit_padded(buf, len, width, left, pad);
        break;
      }
      case 'p': {
        const uint64_t v = reinterpret_cast<uint64_t>(__builtin_va_arg(args, void*));
        buf[0] = '0';
        buf[1] = 'x';
        len = 2 + format_unsigned(buf + 2, v, 16, false);
        emit_padded(buf, len, width, left, ' ');
        break;
      }
      case 'c':
        buf[0] = char(__builtin_va_arg(args, int));
        emit_padded(buf, 1, width, left, ' ');
        break;
      case 's': {
        const char* s = __builtin_va_arg(args, const char*);
        if (!s) s = "(null)";
        int n = 0;
        while (s[n]) ++n;
        emit_padded(s, n, width, left, ' ');
        break;
      }
      case '%':
        serial_putc('%');
        break;
      case '\0':
        return;  // a lone '%' at the end
      default:  // unknown conversion: show it rather than guess at the argument
        serial_putc('%');
        serial_putc(*fmt);
        break;
    }
  }
}

void detail::print_unlocked(const char* fmt, ...) {
  __builtin_va_list args;
  __builtin_va_start(args, fmt);
  vprint_unlocked(fmt, args);
  __builtin_va_end(args);
}

void kprintf(const char* fmt, ...) {
  __builtin_va_list args;
  __builtin_va_start(args, fmt);
  console_lock();
  detail::vprint_unlocked(fmt, args);
  console_unlock();
  __builtin_va_end(args);
}

}  // namespace platform
