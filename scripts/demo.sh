#!/bin/bash
# Install what is missing, build, and boot the example kernel in QEMU with 8 CPUs: it brings
# every CPU up in parallel and prints its report (docs/example-kernel.md explains each line).
# Extra arguments go to the kernel command line, e.g. scripts/demo.sh smp.mode=serial
set -euo pipefail
source "$(dirname "$0")/common.sh"
smpboot_install_packages
smpboot_build
echo "== QEMU (TCG), -machine q35 -cpu max -smp 8: smpboot example kernel"
status=0
"$SMPBOOT_ROOT/scripts/run-qemu.sh" "$SMPBOOT_BUILD/examples/smpboot-example" \
  --machine q35 --cpu max --smp 8 --timeout 120 --append "$*" || status=$?
echo "== kernel exit code $status (0 = every CPU online)"
echo "   Try: scripts/demo.sh smp.mode=serial smp.delays=spec   or   $SMPBOOT_BUILD/tools/smpboot-inspect --help"
exit $status
