// The per-CPU state machine. Every transition is one compare-and-swap from a named state, so
// a late AP and a BSP timing it out cannot both win: whoever moves first decides.
//
//   offline --kick--> kicked --AP entry--> alive --AP ready--> online
//      ^                |  \                  |                  |
//      |             timeout \______________ timeout          take down
//      |                v                     v                  v
//      +---(reset)--- failed <---------------+              going_down
//      ^                | retry: failed -> kicked                |
//      +--------------------------------------------------- parked (offline)
#pragma once

#include <stdint.h>

namespace smpboot {

enum class CpuState : uint32_t {
  kOffline = 0,   // not running our code: never started, or parked after going down
  kKicked = 1,    // a wake (INIT/SIPI or NMI) was sent; the CPU has not reached C++ yet
  kAlive = 2,     // running the library's AP entry on its own stack and GDT
  kOnline = 3,    // fully set up, taking work
  kGoingDown = 4, // asked to go offline; stops taking work and parks
  kFailed = 5,    // did not answer in time, or hit an error; see the record's error
};

inline constexpr uint32_t kCpuStateCount = 6;

constexpr const char* cpu_state_name(CpuState s) noexcept {
  switch (s) {
    case CpuState::kOffline: return "offline";
    case CpuState::kKicked: return "kicked";
    case CpuState::kAlive: return "alive";
    case CpuState::kOnline: return "online";
    case CpuState::kGoingDown: return "going_down";
    case CpuState::kFailed: return "failed";
  }
  return "invalid";
}

constexpr bool is_legal_transition(CpuState from, CpuState to) noexcept {
  using S = CpuState;
  switch (from) {
    case S::kOffline: return to == S::kKicked;
    case S::kKicked: return to == S::kAlive || to == S::kFailed;
    case S::kAlive: return to == S::kOnline || to == S::kFailed;
    case S::kOnline: return to == S::kGoingDown;
    case S::kGoingDown: return to == S::kOffline || to == S::kFailed;
    case S::kFailed: return to == S::kKicked || to == S::kOffline;
  }
  return false;
}

static_assert(is_legal_transition(CpuState::kOffline, CpuState::kKicked));
static_assert(!is_legal_transition(CpuState::kOffline, CpuState::kOnline));
static_assert(!is_legal_transition(CpuState::kFailed, CpuState::kAlive));  // late APs park

}  // namespace smpboot
