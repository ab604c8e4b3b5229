#!/bin/bash
# Bringup benchmark (not a test): boots the example kernel in QEMU (TCG) for each CPU count,
# mode and delay policy, several times, and prints the median bringup_us (from the kernel's
# calibrated TSC) and the median host wall time per boot, plus the serial/parallel ratios.
#
# Usage: scripts/bench.sh [--runs N] [--cpus "8 64 255"] [--modes "serial parallel broadcast"]
#                         [--delays "spec modern"] [--machine q35] [--cpu max] [--out FILE]
#                         [--svg FILE]
# Results go to stdout as a Markdown table (and to --out FILE if given). It also boots 64 CPUs
# serially and in parallel once more and draws both boots' timelines side by side with
# tools/timeline/smpboot_timeline.py (default: build/boot-timeline-64.svg).
set -euo pipefail
source "$(dirname "$0")/common.sh"

runs=3 cpus_list="8 64 255" modes="serial parallel broadcast" delays_list="spec modern"
machine=q35 cpu=max out="" svg=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --cpus) cpus_list=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --delays) delays_list=$2; shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --svg) svg=$2; shift 2 ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done

smpboot_install_packages >/dev/null
smpboot_build >/dev/null
kernel=$SMPBOOT_BUILD/examples/smpboot-example
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }

declare -A result
table=$tmp/table.md
{
  echo "| CPUs | mode | delays | median bringup_us | runs (bringup_us) | median host wall s/boot |"
  echo "|---:|---|---|---:|---|---:|"
} >"$table"
for n in $cpus_list; do
  mem=32; [ "$n" -gt 128 ] && mem=64
  for d in $delays_list; do
    for m in $modes; do
      : >"$tmp/us"; : >"$tmp/wall"
      for ((i = 0; i < runs; i++)); do
        start=$(date +%s.%N)
        if "$SMPBOOT_ROOT/scripts/run-qemu.sh" "$kernel" --machine "$machine" --cpu "$cpu" \
             --smp "$n" --mem "$mem" --timeout 600 --append "smp.mode=$m smp.delays=$d" \
             >"$tmp/log" 2>&1; then
          end=$(date +%s.%N)
          sed -n 's/^SMPBOOT RESULT .*bringup_us=\([0-9]*\).*/\1/p' "$tmp/log" >>"$tmp/us"
          echo "$end - $start" | bc >>"$tmp/wall"
        else
          echo "bench: boot failed: n=$n mode=$m delays=$d" >&2
          grep -E 'SMPBOOT (RESULT|NOTE)' "$tmp/log" >&2 || true
        fi
      done
      us=$(median <"$tmp/us")
      wall=$(sort -n "$tmp/wall" | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int((NR+1)/2)]; else print "-"}')
      result[$n,$m,$d]=$us
      echo "| $n | $m | $d | $us | $(paste -sd' ' "$tmp/us") | $wall |" | tee -a "$table" >&2
    done
  done
done

{
  echo
  echo "| CPUs | delays | serial / parallel | serial / broadcast |"
  echo "|---:|---|---:|---:|"
  for n in $cpus_list; do
    for d in $delays_list; do
      s=${result[$n,serial,$d]:--} p=${result[$n,parallel,$d]:--} b=${result[$n,broadcast,$d]:--}
      ratio() { [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] && echo "scale=1; $1 / $2" | bc || echo "-"; }
      echo "| $n | $d | $(ratio "$s" "$p") | $(ratio "$s" "$b") |"
    done
  done
  echo
  echo "Machine: $(nproc) host cores, $(qemu-system-x86_64 --version | head -1); -machine $machine -cpu $cpu; $runs runs each; $(date -u +%Y-%m-%d)."
} >>"$table"
cat "$table"
[ -n "$out" ] && cp "$table" "$out"

svg=${svg:-$SMPBOOT_BUILD/boot-timeline-64.svg}
for m in serial parallel; do
  "$SMPBOOT_ROOT/scripts/run-qemu.sh" "$kernel" --machine "$machine" --cpu "$cpu" --smp 64 \
    --timeout 120 --append "smp.mode=$m smp.delays=modern" --log "$tmp/$m.log" >/dev/null 2>&1 || true
done
python3 "$SMPBOOT_ROOT/tools/timeline/smpboot_timeline.py" --same-scale \
  --title "64 CPUs in QEMU ($machine, TCG, -cpu $cpu), smp.delays=modern: serial vs parallel" \
  -o "$svg" "$tmp/serial.log" "$tmp/parallel.log" && echo "timeline: $svg"
exit 0
