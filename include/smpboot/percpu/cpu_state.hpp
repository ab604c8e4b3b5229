// The per-CPU state machine. Every transition is one compare-and-swap from a named state, so
// a late AP and a BSP timing it out cannot both win: whoever moves first decides.
//
//   offline --INIT/STARTUP or NMI--> wake_sent --AP entry--> alive --AP ready--> online
//      ^                                 |  \                  |                  |
//      |                              timeout \______________ timeout          take down
//      |                                 v                     v                  v
//      +---(reset)------------------- failed <---------------+              going_down
//      ^                                 | retry: failed -> wake_sent             |
//      +--------------------------------------------------------------------- parked (offline)
//
// Reports print kWakeSent as "kicked", the name it had when the report format was fixed.
#pragma once

#include <stdint.h>

namespace smpboot {

enum class CpuState : uint32_t {
  kOffline = 0,    // not running our code: never started, or parked after going down
  kWakeSent = 1,   // INIT/STARTUP IPIs (or an NMI) were sent; the CPU has not reached C++ yet
  kAlive = 2,      // running the library's AP entry on its own stack and GDT
  kOnline = 3,     // fully set up, taking work
  kGoingDown = 4,  // asked to go offline; stops taking work and parks
  kFailed = 5,     // did not answer in time, or hit an error; see the record's error
};

inline constexpr uint32_t kCpuStateCount = 6;

constexpr const char* cpu_state_name(CpuState s) noexcept {
  switch (s) {
    case CpuState::kOffline: return "offline";
    case CpuState::kWakeSent: return "kicked";  // the name reports have always printed
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
    case S::kOffline: return to == S::kWakeSent;
    case S::kWakeSent: return to == S::kAlive || to == S::kFailed;
    case S::kAlive: return to == S::kOnline || to == S::kFailed;
    case S::kOnline: return to == S::kGoingDown;
    case S::kGoingDown: return to == S::kOffline || to == S::kFailed;
    case S::kFailed: return to == S::kWakeSent || to == S::kOffline;
  }
  return false;
}

// How far a CPU got in its latest wake, so a failed AP says where it stopped. The trampoline
// writes protected and long (protected only when it can reach the table with paging off:
// TrampolineSetup::table_phys), ap_main writes alive and online; begin_wake resets it to none.
// An AP reported failed with stage none never reached the trampoline's first record write.
enum class BootStage : uint32_t {
  kNone = 0,       // no sign of this wake yet (or the trampoline could not reach the table)
  kProtected = 1,  // in 32-bit protected mode, found its record
  kLong = 2,       // in long mode on the kernel's page tables, about to call the entry
  kAlive = 3,      // in ap_main on its own stack (record state alive)
  kOnline = 4,     // the kernel's cpu_setup succeeded (record state online)
};

constexpr const char* boot_stage_name(BootStage s) noexcept {
  switch (s) {
    case BootStage::kNone: return "none";
    case BootStage::kProtected: return "protected";
    case BootStage::kLong: return "long";
    case BootStage::kAlive: return "alive";
    case BootStage::kOnline: return "online";
  }
  return "invalid";
}

static_assert(is_legal_transition(CpuState::kOffline, CpuState::kWakeSent));
static_assert(!is_legal_transition(CpuState::kOffline, CpuState::kOnline));
static_assert(!is_legal_transition(CpuState::kFailed, CpuState::kAlive));  // late APs park

}  // namespace smpboot
