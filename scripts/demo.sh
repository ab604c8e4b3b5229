#!/bin/bash
# Install what is missing, build, and show what smpboot does.
set -euo pipefail
source "$(dirname "$0")/common.sh"
smpboot_install_packages
smpboot_build
inspect=$SMPBOOT_BUILD/tools/smpboot-inspect
data=$SMPBOOT_ROOT/tests/data
madt=$data/madt/server__dell__poweredge-r820__E5985CCBA349.apic.dat
cpuid=$data/cpuid/intel__x86-64__skylake__intel-core-i3-8350k-cpu.cpuid.txt
echo "== smpboot-inspect madt $(basename "$madt")"
"$inspect" madt "$madt"
echo
echo "== smpboot-inspect cpuid $(basename "$cpuid")"
"$inspect" cpuid "$cpuid"
