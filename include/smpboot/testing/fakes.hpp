// Recording fakes for the I/O seam, so every policy can be tested on a host (and in an
// in-kernel self-test: fixed capacity, no heap). Each fake logs its accesses in order and
// answers reads from a small register file that the test can preset or script.
#pragma once

#include <stdint.h>

#include "../concepts/clock.hpp"
#include "../concepts/io.hpp"
#include "../hw/cpuid.hpp"

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

static_assert(MmioWindow<FakeMmio>);
static_assert(MsrPort<FakeMsr>);
static_assert(CpuidSource<FakeCpuid>);
static_assert(CpuControl<FakeCpu>);
static_assert(Clock<FakeClock>);

}  // namespace smpboot::testing
