#!/bin/sh
# Boots one of the minimal kernels (examples/minimal, examples/minimal-c) in QEMU and checks its
# report: every CPU online, the AP and CPU0 offline/online cycles ok (skipped with one CPU).
#   minimal_boot_test.sh KERNEL CPUS [run-qemu.sh args...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
kernel=$1 cpus=$2
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$here/../../scripts/run-qemu.sh" "$kernel" --smp "$cpus" --log "$log" "$@" >/dev/null
rc=$?
echo "--- serial log (exit code $rc) ---"
cat "$log"
echo "---"
fail=0
expect() {
  if grep -qx "$1" "$log"; then echo "ok: $1"; else echo "FAIL: no line '$1'"; fail=1; fi
}
[ "$rc" -eq 0 ] || { echo "FAIL: exit code $rc, expected 0"; fail=1; }
expect "MINIMAL cpus=$cpus/$cpus bringup_us=[0-9]*"
expect "MINIMAL online=$cpus"
if [ "$cpus" -gt 1 ]; then
  expect "MINIMAL ap_cycle=ok"
  expect "MINIMAL cpu0_cycle=ok"
else
  expect "MINIMAL cpu0_cycle=skipped"
fi
expect "MINIMAL RESULT pass"
exit $fail
