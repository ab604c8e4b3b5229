// A simulated SMP machine for running smpboot's real core on the host: one thread per
// simulated CPU, a local APIC per CPU reached through the *real* XApic / X2Apic policies (the
// simulated register window decodes ICR writes and delivers INIT / STARTUP / NMI / fixed IPIs
// to the target CPU's thread), per-CPU CPUID and APIC-ID registers, and faults on purpose.
//
// What a woken CPU runs is what the hardware and the trampoline would do: after a STARTUP it
// finds its APIC ID with the configured source, looks itself up in the CpuTable and calls the
// library's own smpboot::ap_main with its record. A CPU parked in `cli; hlt` takes only NMI
// and INIT; an NMI with a pending wake in its own record enters the same ap_main.
//
// With Options::firmware_mailbox the APs start instead "held by firmware": each CPU's thread
// polls the machine's ACPI multiprocessor wakeup mailbox (boot/mailbox.hpp) as the firmware's
// loop does, acknowledges a Wakeup for its own APIC ID and enters the same long-mode path.
//
// Simplifications (documented in docs/simulator.md): INIT to a CPU that is running kernel
// code takes effect when that CPU next halts; timing is real host time.
#pragma once

#include <smpboot/smpboot.hpp>
#include <smpboot/testing/fakes.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sim {

using namespace smpboot;

inline constexpr uint8_t kWakeVector = 0xF0;
inline constexpr uint8_t kOfflineVector = 0xF2;
inline constexpr uint8_t kPingVector = 0xF3;
inline constexpr uint8_t kWorkVector = 0xF4;
inline constexpr uint32_t kCapacity = 1024;
using Table = CpuTable<kCapacity>;

struct CpuFaults {
  bool dead = false;             // ignores every STARTUP; under the mailbox, acknowledges the
                                 // Wakeup and is lost before the wakeup vector's code runs
  bool mailbox_ignores = false;  // its firmware never acknowledges a Wakeup for its ID
  uint32_t drop_sipis = 0;       // the first n STARTUPs are lost
  uint32_t entry_delay_us = 0;   // slow: time between STARTUP and reaching C++
  bool setup_fails = false;      // cpu_setup() says no
  BootStage hang_at = BootStage::kNone;  // stops (parks) right after reaching this stage
};

struct CpuConfig {
  uint32_t register_id = 0;  // what the APIC ID register says
  CpuidRegs leaf0{}, leaf1{}, leaf0b{};  // CPUID answers for the ID chain
  CpuFaults faults;
};

// Builds the CPUID answers of a CPU whose CPUID IDs are `cpuid_id` (8-bit in leaf 01H, 32-bit
// in leaf 0BH when `with_leaf_0b`).
inline void set_cpuid_ids(CpuConfig& c, uint32_t cpuid_id, bool with_leaf_0b) {
  c.leaf0 = {with_leaf_0b ? 0x0Bu : 0x01u, 0x756E6547, 0x6C65746E, 0x49656E69};  // GenuineIntel
  c.leaf1 = {0x000906EA, (cpuid_id & 0xFF) << 24 | (1u << 16), 1u << 21, 1u << 9 | 1u << 28};
  c.leaf0b = with_leaf_0b ? CpuidRegs{1, 1, 0x100, cpuid_id} : CpuidRegs{};
}

// kFirmware: held by the firmware's mailbox loop (Options::firmware_mailbox), not by the APIC.
enum class RunState { kFirmware, kWaitForSipi, kRunning, kIdle, kParked, kOff };

class Machine;

struct SimCpu {
  Machine* machine = nullptr;
  uint32_t slot = 0;  // position in the machine (not the CpuTable index)
  CpuConfig config;
  bool firmware_bsp = false;

  std::mutex mu;
  std::condition_variable cv;
  RunState run_state = RunState::kWaitForSipi;
  bool init_pending = false;
  uint32_t sipi_pending = 0;
  bool nmi_pending = false;
  uint64_t fixed_pending[4] = {};  // 256 vector bits
  // RFLAGS.IF of the kernel code this CPU runs outside a sleep. With it set, a fixed IPI is
  // taken at once by the kernel's handler (EOI and return), so it leaves nothing pending for a
  // sleep that starts later; with it clear the IPI stays pending until `sti; hlt`.
  bool interrupts_enabled = false;
  std::atomic<uint32_t> wake_vectors_taken_by_handler{0};
  std::atomic<uint32_t> sleeps_ended_by_timer{0};
  std::vector<std::function<void()>> work;

  // What the real APIC policies see through the simulated register window.
  std::atomic<uint32_t> esr_latched{0};  // errors since the last ESR write
  std::atomic<uint32_t> esr_visible{0};  // what an ESR read returns
  uint32_t esr_inject = 0;     // ESR bits to report after each send
  bool icr_stuck_busy = false;
  uint32_t icr_high = 0;

  // Observations, for assertions.
  std::atomic<uint32_t> sipis_received{0};
  std::atomic<uint32_t> inits_received{0};
  std::atomic<uint32_t> nmis_received{0};
  std::atomic<uint32_t> trampoline_entries{0};
  std::atomic<uint32_t> mailbox_acks{0};      // Wakeups its firmware acknowledged
  std::atomic<uint64_t> mailbox_vector{0};    // the wakeup vector it last took
  std::atomic<uint32_t> parked_unknown{0};  // trampoline found no record for its ID
  std::atomic<uint32_t> parked_mismatch{0};  // CPUID named another record than the register
  std::atomic<uint32_t> installs{0};         // install_cpu_state calls (kernel code ran)
  std::atomic<uint64_t> gs_base{0};          // "IA32_GS_BASE" set by install_cpu_state
  std::atomic<uint32_t> pings{0};
  std::atomic<uint32_t> check_failures{0};
  CpuRecord* running_record = nullptr;

  std::thread thread;
};

// The simulated xAPIC register window of one CPU: the real XApic<SimMmio> drives it.
class SimMmio {
 public:
  explicit SimMmio(SimCpu* cpu) noexcept : cpu_(cpu) {}
  uint32_t read32(uint32_t offset) noexcept;
  void write32(uint32_t offset, uint32_t value) noexcept;

 private:
  SimCpu* cpu_;
};

// The simulated x2APIC MSRs (and IA32_APIC_BASE) of one CPU: the real X2Apic<SimMsr> drives it.
class SimMsr {
 public:
  explicit SimMsr(SimCpu* cpu) noexcept : cpu_(cpu) {}
  uint64_t read(uint32_t msr) noexcept;
  void write(uint32_t msr, uint64_t value) noexcept;
  void fence_before_apic_write() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }

 private:
  SimCpu* cpu_;
};

struct SimClock {
  uint64_t now_us() noexcept {
    using namespace std::chrono;
    return uint64_t(duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
  }
  void delay_us(uint64_t us) noexcept {
    if (us) std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
};

// The simulated CPU that is running on this host thread.
inline thread_local SimCpu* t_cpu = nullptr;

// A CPU sleeping in `sti; hlt`: woken by a fixed IPI, or by its periodic timer tick (500 us),
// the kernel with a tick running; the tick bounds how far a wait overruns its deadline.
struct SimInterruptFlag {  // the interrupt window of concepts/waiter.hpp on SimCpu
  InterruptsSaved mask_interrupts() noexcept;
  void restore_interrupts(InterruptsSaved saved) noexcept;
};

struct SimWaiter : SimInterruptFlag {
  void wait(const WaitDeadline& deadline) noexcept;
};

// A CPU with no tick at all: `sti; hlt` after arming a one-shot timer for the time the wait
// has left, so it wakes only for a fixed IPI or at the deadline it was given. With one dead AP
// no IPI ever comes, and only the deadline ends the wait.
struct NoTickWaiter : SimInterruptFlag {
  void wait(const WaitDeadline& deadline) noexcept;
};

// A waiter that leaves the caller's interrupt flag as it is: the mistake the interrupt window
// prevents, kept to show what it costs (test_sim.cpp).
struct NoTickWaiterWithoutMasking {
  void wait(const WaitDeadline& deadline) noexcept { NoTickWaiter{}.wait(deadline); }
  InterruptsSaved mask_interrupts() noexcept { return {}; }
  void restore_interrupts(InterruptsSaved) noexcept {}
};

class Machine {
 public:
  enum class Mode { kXApic, kX2Apic };
  struct Options {
    Mode apic = Mode::kXApic;
    TrampolineIdSource id_source = TrampolineIdSource::kApicRegister;
    // The APs start held by firmware polling mailbox(), not in wait-for-SIPI.
    bool firmware_mailbox = false;
    uint32_t firmware_poll_us = 20;  // the firmware loop's pause between reads of the command
  };

  Machine(std::vector<CpuConfig> cpus, Options options);
  ~Machine();
  Machine(const Machine&) = delete;

  Table& table() { return *table_; }
  SimCpu& cpu(uint32_t slot) { return *cpus_[slot]; }
  uint32_t size() const { return uint32_t(cpus_.size()); }
  const Options& options() const { return options_; }
  SimCpu* cpu_by_register_id(uint32_t id);
  // The ACPI wakeup mailbox page the firmware's loops poll (Options::firmware_mailbox).
  AcpiWakeupMailbox& mailbox() { return *mailbox_; }

  // Changes a CPU's faults while it runs (under its lock, as its thread reads them).
  void set_faults(uint32_t slot, const CpuFaults& faults) {
    std::lock_guard<std::mutex> lock(cpus_[slot]->mu);
    cpus_[slot]->config.faults = faults;
  }
  // Runs `fn` as the firmware BSP (slot 0) on its thread and waits for it to return.
  void run_on_bsp(std::function<void()> fn);
  // Posts `fn` to an online CPU's idle loop (it runs there, on that CPU's thread).
  void post_work(uint32_t slot, std::function<void()> fn);

  // IPI delivery, from the register windows.
  void deliver(SimCpu* from, const IpiCommand& cmd);

  // Prepares every table record (stack, GS base, entry) the way a kernel would.
  void prepare_records();

  template <class Fn>
  auto with_apic(SimCpu* cpu, Fn&& fn);

  void cpu_main(SimCpu* cpu);
  void shutdown();
  bool stopping() const { return stopping_.load(); }

  std::atomic<uint64_t> ipis_sent{0};

 private:
  void run_trampoline(SimCpu* cpu, bool from_mailbox = false);
  bool firmware_mailbox_loop(SimCpu* cpu);
  void run_record(SimCpu* cpu, CpuRecord* record);

  std::vector<std::unique_ptr<SimCpu>> cpus_;
  std::unique_ptr<Table> table_;
  std::unique_ptr<AcpiWakeupMailbox> mailbox_;
  Options options_;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<uint8_t[]>> stacks_;
};

template <class Fn>
auto Machine::with_apic(SimCpu* cpu, Fn&& fn) {
  if (options_.apic == Mode::kX2Apic) {
    X2Apic<SimMsr> apic{SimMsr(cpu)};
    return fn(apic);
  }
  XApic<SimMmio> apic{SimMmio(cpu), 1000};
  return fn(apic);
}

// The simulated kernel side of ap_main: what KernelApPlatform does in the example kernel.
struct SimPlatform {
  static void install_cpu_state(CpuRecord& r) noexcept {
    t_cpu->installs.fetch_add(1);
    t_cpu->gs_base.store(r.gs_base);
  }
  static uint64_t now_us() noexcept { return SimClock{}.now_us(); }
  static bool cpu_setup(CpuRecord& r) noexcept;
  static void announce_online(CpuRecord& r) noexcept;
  static void run(CpuRecord& r) noexcept;
  static void park(CpuRecord&) noexcept {}
};
static_assert(ApPlatform<SimPlatform>);

}  // namespace sim
