// Detecting and switching the local APIC mode through IA32_APIC_BASE (Intel SDM Vol. 3A
// 11.4.4 "Local APIC Status and Location", 11.12.1 "Detecting and Enabling x2APIC Mode").
// x2APIC support is CPUID.01H:ECX[21]; after setting EXTD we read it back, because some
// emulators (QEMU TCG) silently ignore the write instead of faulting.
#pragma once

#include "../concepts/io.hpp"
#include "../core/result.hpp"
#include "../hw/cpuid.hpp"
#include "../hw/msr.hpp"

namespace smpboot {

template <MsrPort Msr>
ApicBase read_apic_base(Msr& msr) noexcept {
  return ApicBase{msr.read(msr::kIa32ApicBase)};
}

template <CpuidSource Cpuid>
bool cpu_supports_x2apic(Cpuid& cpuid) noexcept {
  if (Leaf00{cpuid}.max_basic_leaf() < Leaf01::kLeaf) return false;
  return Leaf01{cpuid}.has_x2apic();
}

// Enable the APIC in the requested mode on the calling CPU. xAPIC -> x2APIC is a legal
// single step (EN stays 1, EXTD 0 -> 1); x2APIC -> xAPIC is not (it needs a disable first,
// SDM figure 11-27), so asking for xAPIC on a CPU already in x2APIC mode is refused.
template <MsrPort Msr, CpuidSource Cpuid>
Result<ApicMode> enable_apic_mode(Msr& msr, Cpuid& cpuid, ApicMode wanted) noexcept {
  if (wanted == ApicMode::kDisabled) return Error::kApicDisabled;  // not a mode to enable
  if (wanted == ApicMode::kX2Apic && !cpu_supports_x2apic(cpuid)) return Error::kX2ApicUnsupported;
  ApicBase base = read_apic_base(msr);
  if (!base.enabled()) {
    msr.write(msr::kIa32ApicBase, base.raw | ApicBase::kEnableBit);
    base = read_apic_base(msr);
    if (!base.enabled()) return Error::kApicDisabled;
  }
  if (wanted == ApicMode::kX2Apic && !base.x2apic()) {
    msr.write(msr::kIa32ApicBase, base.raw | ApicBase::kExtdBit);
    if (!read_apic_base(msr).x2apic()) return Error::kX2ApicUnsupported;
  }
  if (wanted == ApicMode::kXApic && base.x2apic()) return Error::kX2ApicToXApicRefused;
  return read_apic_base(msr).mode();
}

// What `smp.apic=auto` means: x2APIC whenever the CPU supports it.
template <CpuidSource Cpuid>
ApicMode preferred_apic_mode(Cpuid& cpuid) noexcept {
  return cpu_supports_x2apic(cpuid) ? ApicMode::kX2Apic : ApicMode::kXApic;
}

}  // namespace smpboot
