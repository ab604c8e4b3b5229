// The simulated machine: delivery of IPIs between CPU threads and each CPU's life cycle
// (wait-for-SIPI -> trampoline -> ap_main -> idle -> offline/parked -> ...).
#include "sim_machine.hpp"

#include <cstring>

namespace sim {

namespace {

// Decodes the low ICR word the way a local APIC does (Intel SDM, "Interrupt Command Register").
IpiCommand decode_icr(uint32_t low, uint32_t destination) {
  IpiCommand c;
  c.vector = uint8_t(low & 0xFF);
  c.mode = DeliveryMode((low >> 8) & 7);
  c.level = Level((low >> 14) & 1);
  c.trigger = TriggerMode((low >> 15) & 1);
  c.shorthand = Shorthand((low >> 18) & 3);
  c.destination = ApicId{destination};
  return c;
}

constexpr uint64_t kStackBytes = 16 * 1024;

}  // namespace

uint32_t SimMmio::read32(uint32_t offset) noexcept {
  switch (offset) {
    case apic_reg::kId.xapic_offset: return cpu_->config.register_id << 24;
    case apic_reg::kIcrLow.xapic_offset: return cpu_->icr_stuck_busy ? icr::kDeliveryStatusBit : 0;
    case apic_reg::kEsr.xapic_offset: return cpu_->esr_visible.load();
    default: return 0;
  }
}

void SimMmio::write32(uint32_t offset, uint32_t value) noexcept {
  switch (offset) {
    case apic_reg::kIcrHigh.xapic_offset: cpu_->icr_high = value; break;
    case apic_reg::kIcrLow.xapic_offset:
      if (cpu_->icr_stuck_busy) break;  // the APIC never accepts it
      cpu_->machine->deliver(cpu_, decode_icr(value, cpu_->icr_high >> 24));
      if (cpu_->esr_inject) cpu_->esr_latched.fetch_or(cpu_->esr_inject);
      break;
    case apic_reg::kEsr.xapic_offset:  // SDM "Error Handling": a write makes the ESR show the errors since the last write
      cpu_->esr_visible.store(cpu_->esr_latched.exchange(0));
      break;
    default: break;
  }
}

uint64_t SimMsr::read(uint32_t msr) noexcept {
  switch (msr) {
    case apic_reg::kId.x2apic_msr(): return cpu_->config.register_id;
    case apic_reg::kEsr.x2apic_msr(): return cpu_->esr_visible.load();
    case msr::kIa32ApicBase:
      return 0xFEE00000u | ApicBase::kEnableBit |
             (cpu_->machine->options().apic == Machine::Mode::kX2Apic ? ApicBase::kExtdBit : 0) |
             (cpu_->firmware_bsp ? ApicBase::kBspBit : 0);
    default: return 0;
  }
}

void SimMsr::write(uint32_t msr, uint64_t value) noexcept {
  if (msr == apic_reg::kEsr.x2apic_msr()) cpu_->esr_visible.store(cpu_->esr_latched.exchange(0));
  if (msr == apic_reg::kIcrLow.x2apic_msr()) {
    cpu_->machine->deliver(cpu_, decode_icr(uint32_t(value), uint32_t(value >> 32)));
    if (cpu_->esr_inject) cpu_->esr_latched.fetch_or(cpu_->esr_inject);
  }
}

namespace {

bool take_wake_vector(SimCpu* cpu) {
  const bool pending = (cpu->fixed_pending[kWakeVector / 64] >> (kWakeVector % 64)) & 1;
  cpu->fixed_pending[kWakeVector / 64] &= ~(uint64_t{1} << (kWakeVector % 64));
  return pending;
}

// The one-shot timer's expiry as a host time point: SimClock counts steady_clock microseconds.
// A wait with no end has no timer to arm.
std::chrono::steady_clock::time_point timer_expiry(const WaitDeadline& deadline) {
  return std::chrono::steady_clock::time_point(std::chrono::microseconds(deadline.deadline_us));
}

}  // namespace

InterruptsSaved SimInterruptFlag::mask_interrupts() noexcept {
  SimCpu* cpu = t_cpu;
  std::lock_guard<std::mutex> lock(cpu->mu);
  const InterruptsSaved saved{.were_enabled = cpu->interrupts_enabled};
  cpu->interrupts_enabled = false;
  return saved;
}

void SimInterruptFlag::restore_interrupts(InterruptsSaved saved) noexcept {
  SimCpu* cpu = t_cpu;
  std::lock_guard<std::mutex> lock(cpu->mu);
  if (saved.were_enabled) cpu->interrupts_enabled = true;
}

void SimWaiter::wait(const WaitDeadline&) noexcept {
  SimCpu* cpu = t_cpu;
  std::unique_lock<std::mutex> lock(cpu->mu);
  // Fixed IPIs to a waiting controller only wake it; the tick bounds the sleep.
  cpu->cv.wait_for(lock, std::chrono::microseconds(500), [&] {
    return (cpu->fixed_pending[kWakeVector / 64] >> (kWakeVector % 64)) & 1;
  });
  (void)take_wake_vector(cpu);
}

void NoTickWaiter::wait(const WaitDeadline& deadline) noexcept {
  SimCpu* cpu = t_cpu;
  std::unique_lock<std::mutex> lock(cpu->mu);
  auto ipi = [&] {
    return ((cpu->fixed_pending[kWakeVector / 64] >> (kWakeVector % 64)) & 1) ||
           cpu->machine->stopping();
  };
  if (deadline.never()) {
    cpu->cv.wait(lock, ipi);
  } else if (!cpu->cv.wait_until(lock, timer_expiry(deadline), ipi)) {
    cpu->sleeps_ended_by_timer.fetch_add(1);
  }
  (void)take_wake_vector(cpu);
}

Machine::Machine(std::vector<CpuConfig> configs, Options options)
    : table_(std::make_unique<Table>()),
      mailbox_(std::make_unique<AcpiWakeupMailbox>()),
      options_(options) {
  for (uint32_t i = 0; i < configs.size(); ++i) {
    auto cpu = std::make_unique<SimCpu>();
    cpu->machine = this;
    cpu->slot = i;
    cpu->config = configs[i];
    cpu->firmware_bsp = i == 0;
    cpu->run_state = i == 0                        ? RunState::kParked
                     : options_.firmware_mailbox ? RunState::kFirmware
                                                 : RunState::kWaitForSipi;
    cpus_.push_back(std::move(cpu));
  }
  for (auto& cpu : cpus_) cpu->thread = std::thread([this, c = cpu.get()] { cpu_main(c); });
}

Machine::~Machine() { shutdown(); }

void Machine::shutdown() {
  if (stopping_.exchange(true)) return;
  for (auto& cpu : cpus_) {
    std::lock_guard<std::mutex> lock(cpu->mu);
    cpu->cv.notify_all();
  }
  for (auto& cpu : cpus_) {
    if (cpu->thread.joinable()) cpu->thread.join();
  }
}

SimCpu* Machine::cpu_by_register_id(uint32_t id) {
  for (auto& cpu : cpus_) {
    if (cpu->config.register_id == id) return cpu.get();
  }
  return nullptr;
}

void Machine::deliver(SimCpu* from, const IpiCommand& cmd) {
  ipis_sent.fetch_add(1);
  std::vector<SimCpu*> targets;
  switch (cmd.shorthand) {
    case Shorthand::kNone:
      if (SimCpu* t = cpu_by_register_id(cmd.destination.value)) targets.push_back(t);
      break;
    case Shorthand::kSelf: targets.push_back(from); break;
    case Shorthand::kAllIncludingSelf:
    case Shorthand::kAllExcludingSelf:
      for (auto& c : cpus_) {
        if (c.get() != from || cmd.shorthand == Shorthand::kAllIncludingSelf) targets.push_back(c.get());
      }
      break;
  }
  for (SimCpu* t : targets) {
    std::lock_guard<std::mutex> lock(t->mu);
    switch (cmd.mode) {
      case DeliveryMode::kInit:
        if (cmd.level == Level::kDeassert) break;  // INIT de-assert: ignored by modern APICs
        t->inits_received.fetch_add(1);
        // The firmware BSP would re-enter the firmware; a test asserts this never happens.
        // A running CPU takes the INIT when it next halts (the simulator cannot stop a
        // thread mid-instruction); STARTUPs that follow count as if it were already waiting.
        t->sipi_pending = 0;
        if (t->run_state == RunState::kParked || t->run_state == RunState::kWaitForSipi) {
          t->run_state = RunState::kWaitForSipi;
        } else {
          t->init_pending = true;
        }
        break;
      case DeliveryMode::kStartup:
        t->sipis_received.fetch_add(1);
        // Only a CPU in wait-for-SIPI takes a STARTUP (SDM); others ignore it.
        if (t->run_state == RunState::kWaitForSipi || t->init_pending) ++t->sipi_pending;
        break;
      case DeliveryMode::kNmi:
        t->nmis_received.fetch_add(1);
        t->nmi_pending = true;
        break;
      case DeliveryMode::kFixed:
        if (t->interrupts_enabled && cmd.vector == kWakeVector) {
          t->wake_vectors_taken_by_handler.fetch_add(1);  // taken now: nothing stays pending
        } else {
          t->fixed_pending[cmd.vector / 64] |= uint64_t{1} << (cmd.vector % 64);
        }
        break;
    }
    t->cv.notify_all();
  }
}

// Runs the oldest posted work item on `cpu`'s thread, without its lock held.
void run_one_work_item(SimCpu* cpu, std::unique_lock<std::mutex>& lock) {
  auto fn = std::move(cpu->work.front());
  cpu->work.erase(cpu->work.begin());
  cpu->run_state = RunState::kRunning;
  lock.unlock();
  fn();
  lock.lock();
}

void Machine::prepare_records() {
  for (auto& r : *table_) {
    stacks_.push_back(std::make_unique<uint8_t[]>(kStackBytes));
    r.stack_top = reinterpret_cast<uint64_t>(stacks_.back().get() + kStackBytes);
    r.gs_base = 0x1000'0000ull + uint64_t{r.index} * 0x1000;  // a distinct "per-CPU block"
    r.entry = reinterpret_cast<uint64_t>(&ap_entry<SimPlatform>);
    r.kernel_data = r.gs_base;
  }
}

void Machine::run_on_bsp(std::function<void()> fn) {
  std::atomic<bool> done{false};
  {
    SimCpu& bsp = *cpus_[0];
    std::lock_guard<std::mutex> lock(bsp.mu);
    bsp.work.push_back([&] { fn(); done.store(true); });
    bsp.cv.notify_all();
  }
  while (!done.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

void Machine::post_work(uint32_t slot, std::function<void()> fn) {
  SimCpu& cpu = *cpus_[slot];
  std::lock_guard<std::mutex> lock(cpu.mu);
  cpu.work.push_back(std::move(fn));
  cpu.fixed_pending[kWorkVector / 64] |= uint64_t{1} << (kWorkVector % 64);
  cpu.cv.notify_all();
}

// After a STARTUP: what asm/trampoline.asm does (its protected-mode and long-mode halves),
// then the library's entry. From the mailbox (mailbox64_entry) the CPU is already in long mode
// and goes straight to the long-mode half: no protected stage.
void Machine::run_trampoline(SimCpu* cpu, bool from_mailbox) {
  cpu->trampoline_entries.fetch_add(1);
  if (cpu->config.faults.entry_delay_us) {
    std::this_thread::sleep_for(std::chrono::microseconds(cpu->config.faults.entry_delay_us));
  }
  const uint32_t register_id = cpu->config.register_id;
  uint32_t id = register_id;
  if (options_.id_source == TrampolineIdSource::kCpuidChain) {
    smpboot::testing::FakeCpuid cpuid;
    cpuid.set(0, 0, cpu->config.leaf0);
    cpuid.set(1, 0, cpu->config.leaf1);
    cpuid.set(0xB, 0, cpu->config.leaf0b);
    auto chained = cpuid_chain_apic_id(cpuid);
    id = chained ? chained->id.value : 0xFFFF'FFFFu;
  }
  const BootStage hang_at = cpu->config.faults.hang_at;
  // Protected mode: the stage, only when both IDs agree (the record is surely ours).
  if (id == register_id && !from_mailbox) {
    if (CpuRecord* r = table_->find_record(ApicId{id})) {
      r->reach(BootStage::kProtected);
      if (hang_at == BootStage::kProtected) return;  // cli; hlt
    }
  }
  // Long mode.
  if (id != register_id) {
    // CPUID names another CPU's record: fail our own (by the register ID), touch neither.
    cpu->parked_mismatch.fetch_add(1);
    CpuRecord* own = table_->find_record(ApicId{register_id});
    if (own != nullptr && own->load_state() == CpuState::kWakeSent) {
      own->error = Error::kApicIdMismatch;
      (void)own->transition(CpuState::kWakeSent, CpuState::kFailed);
    }
    return;
  }
  CpuRecord* record = table_->find_record(ApicId{id});
  if (record == nullptr) {
    cpu->parked_unknown.fetch_add(1);  // cli; hlt, touching nothing
    return;
  }
  record->reach(BootStage::kLong);
  if (hang_at == BootStage::kLong) return;
  run_record(cpu, record);
}

void Machine::run_record(SimCpu* cpu, CpuRecord* record) {
  cpu->running_record = record;
  (void)ap_main<SimPlatform>(record);
  cpu->running_record = nullptr;
}

// The firmware's loop of ACPI 6.4 5.2.12.19 on one held AP: read the command (acquire) with a
// pause between reads; on a Wakeup naming this CPU's APIC ID, read the vector, clear the
// command (release: the acknowledgement) and jump. Returns true when it jumped, false when
// the machine stops. Runs without the CPU's lock: the mailbox is plain shared memory.
bool Machine::firmware_mailbox_loop(SimCpu* cpu) {
  AcpiWakeupMailbox* box = mailbox_.get();
  const uint32_t own_id = cpu->config.register_id;
  for (;;) {
    if (stopping_.load()) return false;
    if (__atomic_load_n(&box->command, __ATOMIC_ACQUIRE) == uint16_t(mailbox::Command::kWakeup) &&
        __atomic_load_n(&box->apic_id, __ATOMIC_RELAXED) == own_id) {
      bool ignores;
      {
        std::lock_guard<std::mutex> lock(cpu->mu);
        ignores = cpu->config.faults.mailbox_ignores;
      }
      if (!ignores) {
        const uint64_t vector = __atomic_load_n(&box->wakeup_vector, __ATOMIC_RELAXED);
        __atomic_store_n(&box->command, uint16_t(mailbox::Command::kNoop), __ATOMIC_RELEASE);
        cpu->mailbox_vector.store(vector);
        cpu->mailbox_acks.fetch_add(1);
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(options_.firmware_poll_us));
  }
}

void Machine::cpu_main(SimCpu* cpu) {
  t_cpu = cpu;
  if (!cpu->firmware_bsp && options_.firmware_mailbox) {
    if (!firmware_mailbox_loop(cpu)) return;
    bool lost;
    {
      std::lock_guard<std::mutex> lock(cpu->mu);
      lost = cpu->config.faults.dead;
      cpu->run_state = lost ? RunState::kParked : RunState::kRunning;
    }
    if (!lost) run_trampoline(cpu, true);
    // Then as after any run: parked (below), where INIT and NMI act as usual.
    std::lock_guard<std::mutex> lock(cpu->mu);
    cpu->run_state = RunState::kParked;
    if (cpu->init_pending) {
      cpu->init_pending = false;
      cpu->run_state = RunState::kWaitForSipi;
    }
  }
  std::unique_lock<std::mutex> lock(cpu->mu);
  for (;;) {
    cpu->cv.wait(lock, [&] {
      if (stopping_.load()) return true;
      if (!cpu->work.empty()) return true;
      if (cpu->run_state == RunState::kWaitForSipi && cpu->sipi_pending) return true;
      if (cpu->run_state == RunState::kParked && cpu->nmi_pending) return true;
      return false;
    });
    if (stopping_.load()) return;
    if (!cpu->work.empty()) {  // the BSP's firmware hand-off, or work for a parked BSP
      run_one_work_item(cpu, lock);
      cpu->run_state = RunState::kParked;  // the work ended: cli; hlt (e.g. CPU0 went offline)
      continue;
    }
    if (cpu->run_state == RunState::kWaitForSipi) {
      --cpu->sipi_pending;  // one STARTUP at a time: a lost first one leaves the second
      const bool lost = cpu->config.faults.dead || cpu->config.faults.drop_sipis > 0;
      if (cpu->config.faults.drop_sipis > 0) --cpu->config.faults.drop_sipis;
      if (lost) continue;
      cpu->run_state = RunState::kRunning;
      lock.unlock();
      run_trampoline(cpu);
      lock.lock();
    } else {  // parked, NMI
      cpu->nmi_pending = false;
      CpuRecord* record = pending_nmi_wake(*table_, ApicId{cpu->config.register_id});
      if (record == nullptr) continue;  // not our wake: back to hlt
      cpu->run_state = RunState::kRunning;
      lock.unlock();
      run_record(cpu, record);
      lock.lock();
    }
    // Whatever ended the run (offline, late, failed setup), the CPU is parked: cli; hlt.
    cpu->run_state = RunState::kParked;
    if (cpu->init_pending) {
      cpu->init_pending = false;
      cpu->run_state = RunState::kWaitForSipi;
    }
  }
}

bool SimPlatform::cpu_setup(CpuRecord&) noexcept { return !t_cpu->config.faults.setup_fails; }

// Whoever started this wake or offline waits: the record names it (CpuRecord::controller_apic_id,
// set by the library on every path), so racing controllers each hear from their own victim.
void SimPlatform::announce_online(CpuRecord& r) noexcept {
  SimCpu* cpu = t_cpu;
  cpu->machine->with_apic(cpu, [&](auto& apic) {
    (void)apic.send(IpiCommand::fixed(r.controller(), kWakeVector));
    return 0;
  });
}

// The idle loop of an online CPU: sleeps until an IPI; runs posted work; answers pings after
// checking it runs on its own record's data; goes offline when its record says so.
void SimPlatform::run(CpuRecord& r) noexcept {
  SimCpu* cpu = t_cpu;
  Machine* m = cpu->machine;
  std::unique_lock<std::mutex> lock(cpu->mu);
  cpu->run_state = RunState::kIdle;
  for (;;) {
    cpu->cv.wait(lock, [&] {
      return cpu->fixed_pending[0] | cpu->fixed_pending[1] | cpu->fixed_pending[2] |
             cpu->fixed_pending[3] || !cpu->work.empty() || cpu->init_pending || m->stopping();
    });
    if (m->stopping()) return;
    auto take = [&](uint8_t v) {
      const bool set = (cpu->fixed_pending[v / 64] >> (v % 64)) & 1;
      cpu->fixed_pending[v / 64] &= ~(uint64_t{1} << (v % 64));
      return set;
    };
    (void)take(kWakeVector);
    if (cpu->init_pending) return;  // reset: back to wait-for-SIPI
    if (take(kPingVector)) {
      uint32_t bad = 0;
      bad += cpu->gs_base.load() != r.gs_base;
      bad += m->table().find_record(ApicId{cpu->config.register_id}) != &r;
      if (bad) cpu->check_failures.fetch_add(bad);
      cpu->pings.fetch_add(1);
    }
    if (take(kOfflineVector) && r.load_state() == CpuState::kGoingDown) {
      // Tell the waiting controller first: publishing offline is the last act before parking
      // (hotplug.hpp), since any controller may wake the CPU from then on.
      lock.unlock();
      announce_online(r);
      (void)complete_offline(r);
      lock.lock();
      return;
    }
    (void)take(kWorkVector);
    while (!cpu->work.empty()) {
      run_one_work_item(cpu, lock);
      cpu->run_state = RunState::kIdle;
    }
  }
}

}  // namespace sim
