// smpboot: bring up the secondary CPUs of an x86-64 machine. The umbrella header: include
// this, pick policies (xAPIC or x2APIC, an APIC-ID source, a clock) and a table capacity.
// See docs/architecture.md for how the pieces compose.
#pragma once

#include "core/atomic.hpp"
#include "core/bits.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

#include "hw/apic_regs.hpp"
#include "hw/control_regs.hpp"
#include "hw/cpuid.hpp"
#include "hw/icr.hpp"
#include "hw/legacy_timers.hpp"
#include "hw/madt.hpp"
#include "hw/msr.hpp"

#include "concepts/apic_id_source.hpp"
#include "concepts/clock.hpp"
#include "concepts/io.hpp"
#include "concepts/local_apic.hpp"
#include "concepts/waiter.hpp"

#include "apic/apic_base.hpp"
#include "apic/local_apic_common.hpp"
#include "apic/x2apic.hpp"
#include "apic/xapic.hpp"

#include "discovery/acpi.hpp"
#include "discovery/apic_id.hpp"
#include "discovery/madt.hpp"
#include "discovery/madt_cpus.hpp"
#include "discovery/topology.hpp"

#include "percpu/cpu_record.hpp"
#include "percpu/cpu_state.hpp"
#include "percpu/cpu_table.hpp"

#include "time/apic_timer_waiter.hpp"
#include "time/calibration.hpp"
#include "time/tsc_clock.hpp"

#include "wake/delays.hpp"
#include "wake/init_sipi.hpp"
#include "boot/mailbox.hpp"
#include "wake/nmi.hpp"
#include "wake/wake_record.hpp"

#include "boot/ap_entry.hpp"
#include "boot/bringup.hpp"
#include "boot/hotplug.hpp"
#include "boot/nmi_entry.hpp"
#include "boot/sipi_page.hpp"
#include "boot/trampoline.hpp"
#include "boot/trampoline_layout.hpp"
#include "boot/wait.hpp"
