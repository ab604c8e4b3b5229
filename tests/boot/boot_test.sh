#!/bin/bash
# One boot test: boot the example kernel in an emulator, then check its report.
#   boot_test.sh qemu|bochs KERNEL [runner args...] -- [check_report.py args...]
# The emulator's exit code must match the report: 0 for status=ok, 1 for status=fail; for an
# injected fault, check_report.py judges the exit code with the log.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
emulator=$1 kernel=$2
shift 2
runner_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do runner_args+=("$1"); shift; done
[ $# -gt 0 ] && shift
check_args=("$@")

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$root/scripts/run-$emulator.sh" "$kernel" "${runner_args[@]}" --log "$log" >/dev/null 2>"$log.err"
rc=$?
want_rc=0 injected=0
for a in "${check_args[@]}"; do
  [ "$a" = "fail" ] && want_rc=1
  [ "$a" = "--expect-injected-failure" ] && injected=1
done
echo "--- serial log (exit code $rc) ---"
cat "$log"
[ -s "$log.err" ] && { echo "--- emulator stderr ---"; cat "$log.err"; }
rm -f "$log.err"
echo "---"
# An injected fault: check_report.py decides from the log and the exit code together (a
# timeout or a triple fault is not a detection).
if [ "$injected" -eq 0 ] && [ "$rc" -ne "$want_rc" ]; then
  echo "boot_test: exit code $rc, expected $want_rc"
  exit 1
fi
python3 "$here/check_report.py" "$log" --exit-code "$rc" "${check_args[@]}"
