/* smpboot's C API: secondary-CPU bringup, hotplug and CPU0's NMI wake for kernels written in
 * C11. It needs no C++ to include; src/smpboot_c.cpp implements it over the header-only core
 * (meson: smpboot_c_dep, a static library; or compile that one file freestanding in your own
 * build, see docs/porting-guide.md). No templates leak: CPUs are opaque handles to their boot
 * records, everything else is a fixed-size C struct. One CPU table of SMPBOOT_MAX_CPUS records
 * lives inside the library (.bss), so there is one machine per kernel, as there is one kernel
 * per machine.
 *
 * Order of calls on the BSP: smpboot_init -> (smpboot_calibrate_clock) ->
 * smpboot_add_cpus_from_madt -> smpboot_cpu_set_boot for every CPU -> smpboot_install_trampoline
 * -> smpboot_bring_up. Then, from any online CPU: smpboot_take_offline / smpboot_bring_online.
 * The calls that wait (bring_up, take_offline, bring_online) sleep in the kernel's wait
 * callback (or the built-in one). They may be called with interrupts on or off: the library
 * turns them off for its check-then-sleep loop (so a wake-up IPI that lands between a check
 * and the sleep stays pending and ends the sleep) and restores the caller's state after it.
 */
#ifndef SMPBOOT_SMPBOOT_H
#define SMPBOOT_SMPBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMPBOOT_MAX_CPUS 256u

/* One CPU's boot record, owned by the library. Valid for the life of the kernel. */
typedef struct smpboot_cpu smpboot_cpu;
/* The registers the library's NMI entry saved (only passed through to other_nmi). */
typedef struct smpboot_nmi_frame smpboot_nmi_frame;

/* The values of smpboot::Error (include/smpboot/core/result.hpp); 0 is success.
 * smpboot_error_name() gives the name the docs and the troubleshooting guide use. */
typedef uint8_t smpboot_error;
#define SMPBOOT_OK ((smpboot_error)0)

typedef enum smpboot_apic_mode { SMPBOOT_XAPIC = 0, SMPBOOT_X2APIC = 1 } smpboot_apic_mode;
typedef enum smpboot_bringup_mode {
  SMPBOOT_SERIAL = 0,    /* one AP after the other */
  SMPBOOT_PARALLEL = 1,  /* INIT/SIPI/SIPI to every AP at once, each finds its own record */
  SMPBOOT_BROADCAST = 2  /* the all-excluding-self shorthand; only when the MADT says it is safe */
} smpboot_bringup_mode;
typedef enum smpboot_delays {
  SMPBOOT_DELAYS_MODERN = 0, /* 10 us / 200 us / none, as Linux on current CPUs */
  SMPBOOT_DELAYS_SPEC = 1    /* the MP specification's 10 ms / 200 us / 200 us */
} smpboot_delays;
/* Same values as smpboot::CpuState and smpboot::BootStage. */
typedef enum smpboot_cpu_state {
  SMPBOOT_CPU_OFFLINE = 0, SMPBOOT_CPU_WAKE_SENT = 1, SMPBOOT_CPU_ALIVE = 2,
  SMPBOOT_CPU_ONLINE = 3, SMPBOOT_CPU_GOING_DOWN = 4, SMPBOOT_CPU_FAILED = 5
} smpboot_cpu_state;
typedef enum smpboot_boot_stage {
  SMPBOOT_STAGE_NONE = 0, SMPBOOT_STAGE_PROTECTED = 1, SMPBOOT_STAGE_LONG = 2,
  SMPBOOT_STAGE_ALIVE = 3, SMPBOOT_STAGE_ONLINE = 4
} smpboot_boot_stage;

/* What the kernel provides. Callbacks marked "may be NULL" have a built-in default. */
struct smpboot_platform {
  /* Time. NULL (all three): the built-in TSC clock and APIC-timer waiter, which need
   * smpboot_calibrate_clock() first. */
  uint64_t (*now_us)(void);
  void (*delay_us)(uint64_t us);
  /* Called with interrupts disabled; sleep until an interrupt (`sti; hlt; cli`) and return
   * within remaining_us at the latest: arm a one-shot timer or keep a periodic tick, else one
   * dead AP hangs the boot. Return with interrupts disabled. */
  void (*wait)(uint64_t remaining_us);

  /* On the woken CPU, in this order (see the AP entry contract in docs/porting-guide.md). */
  /* Load this CPU's GDT, segments, GS/FS base and IDT. May be NULL: the record's values from
   * smpboot_cpu_set_boot are loaded (GDT and IDT only if given). A kernel that builds its
   * GDT/TSS on the CPU itself does it here, then records them with smpboot_cpu_set_tables;
   * until then an AP holds the trampoline's GDT in the SIPI page (CS 0x18, data 0x10) and no
   * IDT. smpboot_install_record_state loads what the record gives, for use in here. */
  void (*install_cpu_state)(smpboot_cpu* self);
  /* The kernel's per-CPU setup; false marks the CPU failed. The library has already enabled
   * this CPU's local APIC. Runs on ALL APs AT ONCE in parallel mode: take your own locks.
   * May be NULL. */
  bool (*cpu_setup)(smpboot_cpu* self);
  /* The CPU's life while online (the scheduler's idle loop). Must not return; to go
   * offline the CPU calls smpboot_offline_self() from its offline interrupt. CPU0 comes back
   * here, not to where it went offline, after its NMI wake. Required. */
  void (*run)(smpboot_cpu* self);
  /* NMIs on any CPU that are not a CPU0 wake. May be NULL (ignored). */
  void (*other_nmi)(smpboot_nmi_frame* frame);
};

struct smpboot_config {
  smpboot_apic_mode apic_mode; /* x2APIC: the BSP must already be in x2APIC mode */
  uint64_t xapic_virt;         /* where the kernel mapped the xAPIC page (uncached); xAPIC only */
  uint8_t wake_vector;         /* IPI that wakes a waiting controller; its handler only EOIs */
  uint8_t timer_vector;        /* the built-in waiter's one-shot APIC timer; EOI only */
  uint8_t spurious_vector;     /* the local APICs' spurious vector (low nibble 0xF on old CPUs) */
  const struct smpboot_platform* platform;
};

/* Per-CPU values the entry path installs (all virtual addresses in the kernel's mapping). */
struct smpboot_cpu_boot {
  uint64_t stack_top;  /* 16-byte aligned top of this CPU's stack (16 KiB is plenty) */
  uint64_t gs_base, fs_base;
  uint64_t gdt_base;   /* 0: none (install_cpu_state loads the kernel's own) */
  uint16_t gdt_limit;  /* code selector 0x08, data 0x10 */
  uint64_t idt_base;   /* 0: none */
  uint16_t idt_limit;
  void* kernel_data;   /* the kernel's own per-CPU pointer, returned by smpboot_cpu_kernel_data */
};

struct smpboot_census {     /* what the MADT said (see MadtCpuCensus) */
  uint32_t enabled, added, online_capable, disabled, duplicates, not_added, xapic_unaddressable;
  bool broadcast_safe;      /* SMPBOOT_BROADCAST may be used */
  smpboot_error walk_error; /* a malformed subtable ended the walk early */
};

struct smpboot_bringup_options {
  smpboot_bringup_mode mode;
  smpboot_delays delays;
  uint64_t timeout_us;  /* 0: 2 s. Per AP in serial mode, for all APs otherwise */
};

struct smpboot_bringup_report {
  uint32_t intended, online, failed; /* CPUs in the table, the BSP included */
  uint64_t start_us, end_us;         /* first wake sent, last AP online */
  smpboot_error error;               /* why nothing was sent, e.g. broadcast_unsafe */
  uint32_t esr;                      /* APIC error status after the wake sequence */
};

struct smpboot_cpu_info {
  uint32_t index, apic_id, controller_apic_id, wake_count, esr;
  smpboot_cpu_state state;
  smpboot_boot_stage stage;
  smpboot_error error;               /* why it failed */
  uint64_t wake_sent_us, alive_us, online_us;
  bool firmware_bsp;
  /* The MADT entry the CPU came from: ACPI processor UID (0xFFFFFFFF: none), type (0 or 9;
   * 0xFF: not in the MADT) and Local APIC flags (bit 0 enabled, bit 1 online capable). */
  uint32_t acpi_uid;
  uint8_t madt_type, madt_flags;
};

/* BSP: check the configuration and enable the BSP's local APIC. */
smpboot_error smpboot_init(const struct smpboot_config* config);
/* BSP: measure the TSC against PIT channel 2 and the local APIC timer against the TSC,
 * for the built-in clock and waiter. Interrupts must be off (the PIT gate is polled). */
smpboot_error smpboot_calibrate_clock(void);
uint64_t smpboot_now_us(void);
uint64_t smpboot_tsc_hz(void);
/* Sleep (in the wait callback) until done(arg) is true or timeout_us passed; returns done's
 * last answer. For the kernel's own waits on other CPUs, with the same no-lost-wake-up rule. */
bool smpboot_wait_until(bool (*done)(void* arg), void* arg, uint64_t timeout_us);

/* BSP: the BSP as CPU 0, then every enabled MADT CPU, up to max_cpus in all (0: all). */
smpboot_error smpboot_add_cpus_from_madt(const void* madt, size_t length, uint32_t max_cpus,
                                         struct smpboot_census* census);
uint32_t smpboot_cpu_count(void);
smpboot_cpu* smpboot_cpu_at(uint32_t index);         /* NULL past the end */
smpboot_cpu* smpboot_cpu_by_apic_id(uint32_t apic_id);
smpboot_cpu* smpboot_self(void);                      /* by this CPU's APIC ID */
smpboot_error smpboot_cpu_set_boot(smpboot_cpu* cpu, const struct smpboot_cpu_boot* boot);
void* smpboot_cpu_kernel_data(const smpboot_cpu* cpu);
/* On the CPU itself, in install_cpu_state: the tables it built and loaded, written into its
 * record so the record says what the CPU runs on (CPU0's NMI wake enters with them again). */
void smpboot_cpu_set_tables(smpboot_cpu* cpu, uint64_t gdt_base, uint16_t gdt_limit,
                            uint64_t idt_base, uint16_t idt_limit);
/* Load the record's GDT (if any; CS 0x08, data 0x10), GS and FS bases and IDT (if any). */
void smpboot_install_record_state(const smpboot_cpu* cpu);
void smpboot_cpu_get_info(const smpboot_cpu* cpu, struct smpboot_cpu_info* info);
/* BSP: load CPU 0's own record state (what the entry does on the APs). */
void smpboot_install_bsp_state(void);

/* BSP: copy the library's trampoline.bin (blob, size) to the SIPI page: page is its virtual
 * address, page_phys its physical one (4 KiB aligned, below 1 MiB, identity-mapped in the
 * page tables at cr3, which must lie below 4 GiB). The APs get the BSP's EFER.NXE and APIC
 * mode. table_phys: 0, or the physical address of the library's table if the kernel image is
 * identity-mapped (lets APs report stage `protected`; see smpboot_table_address). */
smpboot_error smpboot_install_trampoline(void* page, uint64_t page_phys, const void* blob,
                                         size_t size, uint64_t cr3, uint64_t table_phys);
const void* smpboot_table_address(void);

/* BSP: mark itself online and wake every other CPU; returns when all are online or the
 * timeout passed (those are failed, with a reason in their info). */
smpboot_error smpboot_bring_up(const struct smpboot_bringup_options* options,
                               struct smpboot_bringup_report* report);

/* Controller (any online CPU but the victim): ask the victim to go offline with an IPI on
 * offline_vector and wait until it parked. */
smpboot_error smpboot_take_offline(smpboot_cpu* victim, uint8_t offline_vector,
                                   uint64_t timeout_us);
/* The victim, in its offline_vector handler, interrupts off: EOI, tell the controller,
 * publish `offline` as the very last act and park. Never returns. */
void smpboot_offline_self(void);
/* Controller: wake an offline CPU again (INIT/SIPI for APs, NMI for CPU0) and wait until it
 * is online. */
smpboot_error smpboot_bring_online(smpboot_cpu* victim, uint64_t timeout_us);

/* The NMI entry: point the NMI gate (vector 2) at smpboot_nmi_entry, from the library's
 * nmi_entry.o. It calls smpboot_nmi_dispatch, which this library defines. */
extern char smpboot_nmi_entry[];

/* Local APIC helpers for the kernel's handlers. */
uint32_t smpboot_apic_id(void);
void smpboot_eoi(void);
smpboot_error smpboot_send_ipi(uint32_t apic_id, uint8_t vector);

/* Names as the docs use them; never NULL. */
const char* smpboot_error_name(smpboot_error error);
const char* smpboot_state_name(smpboot_cpu_state state);
const char* smpboot_stage_name(smpboot_boot_stage stage);
/* One report line, "cpu=<i> apic=<id> state=<s> stage=<s> error=<e> wake_us=<n> online_us=<n>",
 * NUL-terminated and cut to size; returns the length it needed. */
size_t smpboot_format_cpu(const smpboot_cpu* cpu, char* buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* SMPBOOT_SMPBOOT_H */
