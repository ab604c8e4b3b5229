// Recording fakes for the I/O seam, so every policy can be tested on a host (and in an
// in-kernel self-test: fixed capacity, no heap). Each fake logs its accesses in order and
// answers reads from a small register file that the test can preset or script.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/io.hpp"
#include "../hw/cpuid.hpp"
#include "../hw/legacy_timers.hpp"

namespace smpboot::testing {

enum class AccessKind : uint8_t { kRead, kWrite, kFence };

struct Access {
  AccessKind kind;
  uint32_t reg;     // MMIO offset or MSR number
  uint64_t value;   // value written, or value returned by the read
  constexpr bool operator==(const Access&) const = default;
};

// Fixed-capacity log; accesses beyond capacity are counted but not kept.
template <uint32_t N>
struct AccessLog {
  Access entries[N] = {};
  uint32_t count = 0;
  uint32_t dropped = 0;
  void add(Access a) noexcept {
    if (count < N) entries[count++] = a; else ++dropped;
  }
  uint32_t writes_to(uint32_t reg) const noexcept {
    uint32_t n = 0;
    for (uint32_t i = 0; i < count; ++i) n += entries[i].kind == AccessKind::kWrite && entries[i].reg == reg;
    return n;
  }
  void clear() noexcept { count = dropped = 0; }
};

// A 4 KiB register page (xAPIC-shaped). `on_read` lets a test script a register's value per
// read (e.g. an ICR whose delivery-status bit clears after k polls).
struct FakeMmioState {
  uint32_t regs[1024] = {};
  AccessLog<256> log;
  uint32_t (*on_read)(FakeMmioState&, uint32_t offset, uint32_t stored) = nullptr;
  uint32_t reads = 0;
};

// Copyable handle to shared state, as policies hold their MMIO window by value.
class FakeMmio {
 public:
  explicit FakeMmio(FakeMmioState& s) noexcept : s_(&s) {}
  uint32_t read32(uint32_t offset) noexcept {
    ++s_->reads;
    uint32_t v = s_->regs[(offset / 4) % 1024];
    if (s_->on_read) v = s_->on_read(*s_, offset, v);
    s_->log.add({AccessKind::kRead, offset, v});
    return v;
  }
  void write32(uint32_t offset, uint32_t value) noexcept {
    s_->regs[(offset / 4) % 1024] = value;
    s_->log.add({AccessKind::kWrite, offset, value});
  }
  FakeMmioState& state() noexcept { return *s_; }

 private:
  FakeMmioState* s_;
};

struct FakeMsrState {
  static constexpr uint32_t kMaxMsrs = 32;
  uint32_t numbers[kMaxMsrs] = {};
  uint64_t values[kMaxMsrs] = {};
  uint32_t used = 0;
  AccessLog<256> log;
  // Bits of IA32_APIC_BASE-like MSRs that writes cannot change (emulating QEMU TCG, which
  // silently ignores EXTD): value = (written & ~sticky_mask) | (old & sticky_mask).
  uint32_t sticky_msr = 0;
  uint64_t sticky_mask = 0;

  uint64_t* slot(uint32_t msr) noexcept {
    for (uint32_t i = 0; i < used; ++i) if (numbers[i] == msr) return &values[i];
    if (used == kMaxMsrs) return nullptr;
    numbers[used] = msr;
    values[used] = 0;
    return &values[used++];
  }
  void set(uint32_t msr, uint64_t v) noexcept { if (auto* p = slot(msr)) *p = v; }
  uint64_t get(uint32_t msr) noexcept { auto* p = slot(msr); return p ? *p : 0; }
};

class FakeMsr {
 public:
  explicit FakeMsr(FakeMsrState& s) noexcept : s_(&s) {}
  uint64_t read(uint32_t msr) noexcept {
    const uint64_t v = s_->get(msr);
    s_->log.add({AccessKind::kRead, msr, v});
    return v;
  }
  // Logged as an access of its own (reg and value 0), so tests see where it falls.
  void fence_before_apic_write() noexcept { s_->log.add({AccessKind::kFence, 0, 0}); }
  void write(uint32_t msr, uint64_t value) noexcept {
    s_->log.add({AccessKind::kWrite, msr, value});
    if (msr == s_->sticky_msr && s_->sticky_mask) {
      value = (value & ~s_->sticky_mask) | (s_->get(msr) & s_->sticky_mask);
    }
    s_->set(msr, value);
  }
  FakeMsrState& state() noexcept { return *s_; }

 private:
  FakeMsrState* s_;
};

// CPUID answers from a table; a missing (leaf, subleaf) returns zeros, as real CPUs do for
// most unimplemented sub-leaves.
struct FakeCpuid {
  static constexpr uint32_t kMaxEntries = 96;
  struct Entry { uint32_t leaf, subleaf; CpuidRegs regs; };
  Entry entries[kMaxEntries] = {};
  uint32_t count = 0;

  bool set(uint32_t leaf, uint32_t subleaf, CpuidRegs r) noexcept {
    for (uint32_t i = 0; i < count; ++i) {
      if (entries[i].leaf == leaf && entries[i].subleaf == subleaf) { entries[i].regs = r; return true; }
    }
    if (count == kMaxEntries) return false;
    entries[count++] = {leaf, subleaf, r};
    return true;
  }
  CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) noexcept {
    for (uint32_t i = 0; i < count; ++i) {
      if (entries[i].leaf == leaf && entries[i].subleaf == subleaf) return entries[i].regs;
    }
    return {};
  }
};

// A CPU whose TSC advances by `tsc_step` on every read, so time passes while code polls.
struct FakeCpu {
  uint64_t tsc = 0;
  uint64_t tsc_step = 1;
  uint64_t pauses = 0;
  void pause() noexcept { ++pauses; }
  uint64_t read_tsc() noexcept { return tsc += tsc_step; }
};

// A Clock for protocol tests: every query advances time by `step_us`; delays are recorded.
struct FakeClock {
  uint64_t now = 0;
  uint64_t step_us = 1;
  uint64_t delays[64] = {};
  uint32_t delay_count = 0;
  uint64_t now_us() noexcept { return now += step_us; }
  void delay_us(uint64_t us) noexcept {
    if (delay_count < 64) delays[delay_count++] = us;
    now += us;
  }
};

// Time for the calibration fakes: a TSC at `hz` that advances by `step` ticks on every
// read_tsc() and pause() (the cost of a read and the loop around it), so a polling loop sees
// time pass and ends. The legacy timers and the APIC timer below derive their counts from
// it; `frozen` stops it, to test loops that must not trust the TSC.
struct FakeTsc {
  uint64_t hz = 1'000'000'000;
  uint64_t tsc = 0;
  uint64_t step = 100;
  bool frozen = false;
  uint64_t reads = 0;
  uint64_t pauses = 0;

  void pause() noexcept {
    ++pauses;
    if (!frozen) tsc += step;
  }
  uint64_t read_tsc() noexcept {
    ++reads;
    if (!frozen) tsc += step;
    return tsc;
  }
  // Ticks of a clock at rate_hz during `tsc_ticks` of this TSC, rounded down; exact while
  // (tsc_ticks % hz) * rate_hz < 2^64 (every rate below 18 THz for a TSC below 1 THz).
  constexpr uint64_t ticks_of(uint64_t rate_hz, uint64_t tsc_ticks) const noexcept {
    return tsc_ticks / hz * rate_hz + tsc_ticks % hz * rate_hz / hz;
  }
  // The TSC ticks until a clock at rate_hz has counted `ticks`, rounded up.
  constexpr uint64_t tsc_for(uint64_t rate_hz, uint64_t ticks) const noexcept {
    return ticks / rate_hz * hz + (ticks % rate_hz * hz + rate_hz - 1) / rate_hz;
  }
};

// A CpuControl handle on a FakeTsc, for holders that take it by value (TscClock).
struct FakeTscCpu {
  FakeTsc* time;
  void pause() noexcept { time->pause(); }
  uint64_t read_tsc() noexcept { return time->read_tsc(); }
};

// Port I/O with two timers behind it, both counting on the FakeTsc's time line:
//  - PIT counter 2 (Intel 8254 data sheet) as the PC wires it: GATE2 = port 61h bit 0, speaker
//    data = bit 1, OUT2 readable as bit 5. The control word 0xB0 at port 43h selects mode 0 and
//    drives OUT2 low; the count goes to port 42h LSB then MSB (0 means 65536); it runs at
//    1.193182 MHz while GATE2 is high and OUT2 rises when it reaches zero. (The 8254's one CLK
//    to load the count is not modelled, nor reading a count back; other modes leave OUT2 high.)
//  - the ACPI PM timer (ACPI 6.5 4.8.3.3) at `pm_port`: 3.579545 MHz from `pm_start`, 24 or 32
//    bits wide, wrapping; a 24-bit timer reads `pm_reserved_byte` in bits 31:24.
// Every access costs `io_ticks` TSC ticks. Writes are logged in order (reg = port); reads are
// counted. Other ports read as a floating bus (all ones). Fault modes: `pit_out2_stuck_low`,
// `pm_stuck` (the PM timer never moves).
struct FakePortIo {
  FakeTsc* time = nullptr;
  uint64_t io_ticks = 0;
  AccessLog<64> writes = {};
  uint64_t reads = 0;

  bool pit_out2_stuck_low = false;
  uint8_t port61 = 0;           // bits 3:0 as last written
  // Counter 2: idle (power-on, or a mode other than 0: OUT2 high), mode 0 waiting for its
  // count (OUT2 low), or counting down `pit_count` (OUT2 low until zero).
  enum class Pit : uint8_t { kIdle, kAwaitingLsb, kAwaitingMsb, kLoaded } pit = Pit::kIdle;
  uint32_t pit_count = 0;
  uint64_t pit_counted = 0;     // PIT ticks counted during earlier gate-high spells
  uint64_t pit_gate_tsc = 0;    // when the current gate-high spell began
  bool pit_running = false;

  uint16_t pm_port = 0;         // 0: no PM timer
  bool pm_32bit = false;
  uint32_t pm_start = 0;
  uint8_t pm_reserved_byte = 0;
  bool pm_stuck = false;

  uint8_t in8(uint16_t port) noexcept {
    spend();
    ++reads;
    if (port != pit::kGatePort) return 0xFF;
    return uint8_t((port61 & 0x0F) | (pit_out2() ? pit::port61::kOut2.kMask : 0));
  }
  void out8(uint16_t port, uint8_t value) noexcept {
    spend();
    writes.add({AccessKind::kWrite, port, value});
    const bool gate = pit::port61::kGate2(port61);
    if (port == pit::kControlPort && pit::control::kSelectCounter(value) == pit::control::kCounter2) {
      pit = value == pit::kCounter2Mode0 ? Pit::kAwaitingLsb : Pit::kIdle;
      pit_running = false;
    } else if (port == pit::kCounter2Port && pit == Pit::kAwaitingLsb) {
      pit_count = value;
      pit = Pit::kAwaitingMsb;
    } else if (port == pit::kCounter2Port && pit == Pit::kAwaitingMsb) {
      pit_count |= uint32_t(value) << 8;
      if (pit_count == 0) pit_count = 0x10000;
      pit = Pit::kLoaded;
      pit_counted = 0;
      pit_running = gate;
      pit_gate_tsc = time->tsc;
    } else if (port == pit::kGatePort) {
      const bool now = pit::port61::kGate2(value);
      port61 = uint8_t(value & 0x0F);
      if (pit == Pit::kLoaded && !gate && now) {
        pit_running = true;
        pit_gate_tsc = time->tsc;
      } else if (pit == Pit::kLoaded && gate && !now) {
        pit_counted = pit_ticks();
        pit_running = false;
      }
    }
  }
  uint32_t in32(uint16_t port) noexcept {
    spend();
    ++reads;
    if (pm_port == 0 || port != pm_port) return 0xFFFF'FFFFu;
    const uint64_t ticks = pm_stuck ? 0 : time->ticks_of(pm_timer::kHz, time->tsc);
    const uint32_t value = uint32_t(pm_start + ticks);
    if (pm_32bit) return value;
    return (value & pm_timer::kMask24) | uint32_t(pm_reserved_byte) << 24;
  }

  // PIT ticks counted since the count was loaded, gate-low spells excluded.
  uint64_t pit_ticks() const noexcept {
    return pit_counted +
           (pit_running ? time->ticks_of(pit::kInputHz, time->tsc - pit_gate_tsc) : 0);
  }
  bool pit_out2() const noexcept {
    if (pit == Pit::kIdle) return true;
    if (pit != Pit::kLoaded || pit_out2_stuck_low) return false;
    return pit_ticks() >= pit_count;
  }

 private:
  void spend() noexcept { time->tsc += io_ticks; }
};

// The local APIC timer in one-shot mode (SDM Vol. 3A 11.5.4), counting down at `counts_hz`
// (its input clock / 16; QEMU: 1 GHz / 16) on the FakeTsc's time line; `stuck` keeps the
// current count at the initial count. Records every arming.
struct FakeApicTimer {
  FakeTsc* time = nullptr;
  uint64_t counts_hz = 62'500'000;
  bool stuck = false;

  bool armed = false;           // started and not stopped (it may have reached 0)
  uint8_t vector = 0;
  uint32_t initial_count = 0;
  uint64_t start_tsc = 0;
  uint32_t starts = 0;
  uint32_t stops = 0;
  uint32_t armed_counts[16] = {};  // the initial counts of the first 16 starts

  void start_one_shot_timer(uint8_t v, uint32_t count) noexcept {
    if (starts < 16) armed_counts[starts] = count;
    ++starts;
    armed = count != 0;
    vector = v;
    initial_count = count;
    start_tsc = time->tsc;
  }
  uint32_t timer_current_count() noexcept {
    if (!armed) return 0;
    if (stuck) return initial_count;
    const uint64_t elapsed = time->ticks_of(counts_hz, time->tsc - start_tsc);
    return elapsed >= initial_count ? 0 : uint32_t(initial_count - elapsed);
  }
  void stop_timer() noexcept {
    ++stops;
    armed = false;
  }
  // The TSC value at which the count reaches 0 and the interrupt is raised.
  uint64_t expiry_tsc() const noexcept { return start_tsc + time->tsc_for(counts_hz, initial_count); }
};

// What a CpuHalt sleeps through: it wakes at the armed FakeApicTimer's expiry (unless the
// timer is stuck) or after `other_interrupt_ticks` (0: no other interrupt source), whichever
// comes first, and moves the FakeTsc there. With neither, a real CPU would sleep forever: the
// halt is counted in `hangs` and returns at once.
struct FakeCpuHaltState {
  FakeTsc* time = nullptr;
  bool interrupts_enabled = false;  // RFLAGS.IF as mask/restore_interrupts leave it
  uint32_t masks = 0;
  uint32_t restores = 0;
  FakeApicTimer* timer = nullptr;
  uint64_t other_interrupt_ticks = 0;
  uint32_t halts = 0;
  uint32_t timer_wakes = 0;
  uint32_t other_wakes = 0;
  uint32_t hangs = 0;
};

// RFLAGS.IF for a test's own Waiter (derive from it): records the masking wait_until does
// around its check-then-sleep loop (concepts/waiter.hpp, "The interrupt window").
struct FakeInterruptFlag {
  bool interrupts_enabled = false;
  uint32_t masks = 0;
  uint32_t restores = 0;
  InterruptsSaved mask_interrupts() noexcept {
    ++masks;
    const InterruptsSaved saved{.were_enabled = interrupts_enabled};
    interrupts_enabled = false;
    return saved;
  }
  void restore_interrupts(InterruptsSaved saved) noexcept {
    ++restores;
    if (saved.were_enabled) interrupts_enabled = true;
  }
};

// Copyable handle, as waiters hold their halt policy by value.
struct FakeCpuHalt {
  FakeCpuHaltState* s;
  InterruptsSaved mask_interrupts() noexcept {
    ++s->masks;
    const InterruptsSaved saved{.were_enabled = s->interrupts_enabled};
    s->interrupts_enabled = false;
    return saved;
  }
  void restore_interrupts(InterruptsSaved saved) noexcept {
    ++s->restores;
    if (saved.were_enabled) s->interrupts_enabled = true;
  }
  void halt_until_interrupt() noexcept {
    ++s->halts;
    FakeTsc& time = *s->time;
    const bool timer_due = s->timer && s->timer->armed && !s->timer->stuck;
    const uint64_t timer_at = timer_due ? s->timer->expiry_tsc() : ~uint64_t{0};
    const uint64_t other_at =
        s->other_interrupt_ticks ? time.tsc + s->other_interrupt_ticks : ~uint64_t{0};
    if (!timer_due && !s->other_interrupt_ticks) {
      ++s->hangs;
      return;
    }
    if (timer_at <= other_at) {
      ++s->timer_wakes;
      if (timer_at > time.tsc) time.tsc = timer_at;
    } else {
      ++s->other_wakes;
      time.tsc = other_at;
    }
  }
};

static_assert(MmioWindow<FakeMmio>);
static_assert(MsrPort<FakeMsr>);
static_assert(CpuidSource<FakeCpuid>);
static_assert(CpuControl<FakeCpu>);
static_assert(Clock<FakeClock>);
static_assert(CpuControl<FakeTsc>);
static_assert(CpuControl<FakeTscCpu>);
static_assert(PortIo<FakePortIo>);
static_assert(CpuHalt<FakeCpuHalt>);

}  // namespace smpboot::testing
