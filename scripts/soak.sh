#!/bin/bash
# Hotplug soak benchmark (not a test): boots the example kernel N times with a long CPU-hotplug
# torture (CPU0 included, a different seed per boot) and reports failures and the offline /
# online latencies each boot measured.
#
# Usage: scripts/soak.sh [--boots 20] [--cycles 500] [--smp 8] [--machine q35] [--cpu max]
set -euo pipefail
source "$(dirname "$0")/common.sh"
boots=20 cycles=500 smp=8 machine=q35 cpu=max
while [ $# -gt 0 ]; do
  case "$1" in
    --boots) boots=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
smpboot_install_packages >/dev/null
smpboot_build >/dev/null
kernel=$SMPBOOT_BUILD/examples/smpboot-example
log=$(mktemp); trap 'rm -f "$log"' EXIT
total_failures=0 total_cycles=0 total_cpu0=0 bad_boots=0
echo "| boot | seed | exit | cycles | failures | cpu0_cycles | offline_median_us | online_median_us | wall s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((b = 1; b <= boots; b++)); do
  seed=$((1000 + b))
  start=$(date +%s.%N)
  rc=0
  "$SMPBOOT_ROOT/scripts/run-qemu.sh" "$kernel" --machine "$machine" --cpu "$cpu" --smp "$smp" \
    --timeout 600 --append "smp.torture=$cycles smp.torture_cpu0=1 smp.seed=$seed" >"$log" 2>&1 || rc=$?
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  line=$(grep '^SMPBOOT TORTURE' "$log" || true)
  get() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
  c=$(get cycles) f=$(get failures) z=$(get cpu0_cycles) off=$(get offline_median_us) on=$(get online_median_us)
  [ -n "$line" ] || { c=0 f=1 z=0 off=- on=-; }
  [ "$rc" -eq 0 ] || bad_boots=$((bad_boots + 1))
  total_failures=$((total_failures + f)) total_cycles=$((total_cycles + c)) total_cpu0=$((total_cpu0 + z))
  printf '| %d | %d | %d | %s | %s | %s | %s | %s | %.1f |\n' "$b" "$seed" "$rc" "$c" "$f" "$z" "$off" "$on" "$wall"
done
echo
echo "Total: $boots boots, $total_cycles cycles ($total_cpu0 with CPU0 as the victim), $total_failures failures, $bad_boots boots with a non-zero exit."
