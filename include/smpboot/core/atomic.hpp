// A minimal atomic wrapper over the compiler's __atomic builtins (no <atomic> in a freestanding
// kernel). Every operation names its memory order at the call site.
#pragma once

#include <stdint.h>

namespace smpboot {

enum class MemoryOrder : int {
  kRelaxed = __ATOMIC_RELAXED,
  kAcquire = __ATOMIC_ACQUIRE,
  kRelease = __ATOMIC_RELEASE,
  kAcqRel = __ATOMIC_ACQ_REL,
  kSeqCst = __ATOMIC_SEQ_CST,
};

template <class T>
class Atomic {
 public:
  constexpr Atomic() noexcept : value_{} {}
  constexpr explicit Atomic(T v) noexcept : value_(v) {}
  Atomic(const Atomic&) = delete;
  Atomic& operator=(const Atomic&) = delete;

  T load(MemoryOrder order) const noexcept {
    return __atomic_load_n(&value_, static_cast<int>(order));
  }
  void store(T v, MemoryOrder order) noexcept {
    __atomic_store_n(&value_, v, static_cast<int>(order));
  }
  T exchange(T v, MemoryOrder order) noexcept {
    return __atomic_exchange_n(&value_, v, static_cast<int>(order));
  }
  // On failure `expected` receives the current value.
  bool compare_exchange(T& expected, T desired, MemoryOrder success,
                        MemoryOrder failure) noexcept {
    return __atomic_compare_exchange_n(&value_, &expected, desired, false,
                                       static_cast<int>(success), static_cast<int>(failure));
  }
  T fetch_add(T v, MemoryOrder order) noexcept {
    return __atomic_fetch_add(&value_, v, static_cast<int>(order));
  }
  T fetch_or(T v, MemoryOrder order) noexcept {
    return __atomic_fetch_or(&value_, v, static_cast<int>(order));
  }

 private:
  T value_;
};

}  // namespace smpboot
