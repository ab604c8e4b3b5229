#!/bin/bash
# Hotplug soak benchmark (not a test): boots the example kernel N times with a long CPU-hotplug
# torture (CPU0 included, a different seed per boot) and reports failures and the offline /
# online latencies each boot measured. With --inject, every seed is booted twice: with the
# Linux v7 fault injected (smp.inject=cpu0_stale_bootdata), which the kernel must detect
# (tests/boot/check_report.py --expect-injected-failure), and as its clean control.
#
# Usage: scripts/soak.sh [--boots 20] [--cycles 500] [--smp 8] [--machine q35] [--cpu max] [--inject]
set -euo pipefail
source "$(dirname "$0")/common.sh"
boots=20 cycles=500 smp=8 machine=q35 cpu=max inject=0
while [ $# -gt 0 ]; do
  case "$1" in
    --boots) boots=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --inject) inject=1; shift ;;
    *) sed -n '2,8p' "$0"; exit 2 ;;
  esac
done
smpboot_install_packages >/dev/null
smpboot_build >/dev/null
kernel=$SMPBOOT_BUILD/examples/smpboot-example
log=$(mktemp); trap 'rm -f "$log"' EXIT

# boot APPEND: runs one boot into $log; sets rc and wall.
boot() {
  local start
  start=$(date +%s.%N)
  rc=0
  "$SMPBOOT_ROOT/scripts/run-qemu.sh" "$kernel" --machine "$machine" --cpu "$cpu" --smp "$smp" \
    --timeout 600 --append "$1" --log "$log" >/dev/null 2>&1 || rc=$?
  wall=$(echo "$(date +%s.%N) - $start" | bc)
}
# Fields of the TORTURE line in $log (c f z off on), or a failure when there is none.
torture_fields() {
  local line
  line=$(grep '^SMPBOOT TORTURE' "$log" || true)
  get() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
  c=$(get cycles) f=$(get failures) z=$(get cpu0_cycles) off=$(get offline_median_us) on=$(get online_median_us)
  [ -n "$line" ] || { c=0 f=1 z=0 off=- on=-; }
}

total_failures=0 total_cycles=0 total_cpu0=0 bad_boots=0 detected=0 by_report=0 by_exception=0
if [ "$inject" -eq 1 ]; then
  echo "| seed | control exit | control cycles | control failures | control cpu0_cycles | injected exit | injected: detection | wall s |"
  echo "|---:|---:|---:|---:|---:|---:|---|---:|"
else
  echo "| boot | seed | exit | cycles | failures | cpu0_cycles | offline_median_us | online_median_us | wall s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
fi
for ((b = 1; b <= boots; b++)); do
  seed=$((1000 + b))
  args="smp.torture=$cycles smp.torture_cpu0=1 smp.seed=$seed"
  boot "$args"
  torture_fields
  [ "$rc" -eq 0 ] || bad_boots=$((bad_boots + 1))
  total_failures=$((total_failures + f)) total_cycles=$((total_cycles + c)) total_cpu0=$((total_cpu0 + z))
  if [ "$inject" -eq 0 ]; then
    printf '| %d | %d | %d | %s | %s | %s | %s | %s | %.1f |\n' "$b" "$seed" "$rc" "$c" "$f" "$z" "$off" "$on" "$wall"
    continue
  fi
  control_rc=$rc control_wall=$wall
  boot "$args smp.inject=cpu0_stale_bootdata"
  verdict=$(python3 "$SMPBOOT_ROOT/tests/boot/check_report.py" "$log" --exit-code "$rc" \
              --expect-injected-failure --injected-victim 0 | tail -1) && ok=1 || ok=0
  if [ "$ok" -eq 1 ]; then
    detected=$((detected + 1))
    case "$verdict" in *exception*) by_exception=$((by_exception + 1)) ;; *) by_report=$((by_report + 1)) ;; esac
    verdict=${verdict#check_report: injected fault detected (} verdict=${verdict%)}
  else
    verdict="NOT DETECTED: ${verdict#check_report: }"
  fi
  printf '| %d | %d | %s | %s | %s | %d | %s | %.1f |\n' "$seed" "$control_rc" "$c" "$f" "$z" "$rc" \
    "$verdict" "$(echo "$control_wall + $wall" | bc)"
done
echo
if [ "$inject" -eq 1 ]; then
  echo "Controls: $boots boots, $total_cycles cycles ($total_cpu0 with CPU0 as the victim), $total_failures failures, $bad_boots boots with a non-zero exit."
  echo "Injected: $detected of $boots detected ($by_report by failed cycles in the report, $by_exception by an exception report)."
else
  echo "Total: $boots boots, $total_cycles cycles ($total_cpu0 with CPU0 as the victim), $total_failures failures, $bad_boots boots with a non-zero exit."
fi
