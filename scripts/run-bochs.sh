#!/bin/bash
# Boots a Multiboot kernel in Bochs 2.7 from a GRUB rescue ISO, shows its COM1 output and
# exits with the kernel's exit code (the byte it wrote to port 0xF4, read from Bochs' log).
#
# Usage: scripts/run-bochs.sh KERNEL [--cpus N] [--count P:C:T] [--model MODEL]
#          [--mem MB] [--timeout SEC] [--append "args"] [--log FILE] [--keep]
#   --cpus     number of CPUs, 1..15 (Bochs allows at most 8 cores per processor and
#              panics at 16 CPUs): becomes --count 1:N:1, or P:N/P:1 above 8  default 4
#   --count    Bochs' processors:cores:threads directly
#   --model    x2apic-generic (bx_generic + cpuid level=6 apic=x2apic x86_64=1),
#              xapic-generic (same, apic=xapic), or any `bochs --help cpu` model
#                                                                  default x2apic-generic
#   --mem      guest RAM in MiB                                    default 32
#   --timeout  seconds before the run is killed                    default 300
#   --append   kernel command line (GRUB 2.06 here hands the kernel just these args)
#   --log      also write the serial output to FILE
#   --keep     keep the work directory (ISO, bochsrc, bochs.log) and print its path
# Exit status: the kernel's code, or 124 timeout, 125 no write to port 0xF4 (triple fault,
# panic), 126 the ISO could not be built or Bochs did not start.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
kernel=$1
shift
cpus=4 count="" model=x2apic-generic mem=32 timeout_s=300 append="" log="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage ;;
    *) echo "run-bochs: unknown option $1" >&2; usage ;;
  esac
done
[ -f "$kernel" ] || { echo "run-bochs: no kernel at $kernel" >&2; exit 2; }
case "$log" in ""|/*) ;; *) log=$PWD/$log ;; esac  # the run itself happens in the work dir

if [ -z "$count" ]; then
  if ! [[ "$cpus" =~ ^[0-9]+$ ]] || [ "$cpus" -lt 1 ] || [ "$cpus" -gt 15 ]; then
    echo "run-bochs: --cpus must be 1..15" >&2
    exit 2
  fi
  for p in 1 2 3 4 5; do
    if [ $((cpus % p)) -eq 0 ] && [ $((cpus / p)) -le 8 ]; then count=$p:$((cpus / p)):1; break; fi
  done
  if [ -z "$count" ]; then
    echo "run-bochs: $cpus CPUs do not split into <= 8 cores per processor; use --count" >&2
    exit 2
  fi
fi

cpu_common="count=$count, ips=50000000, quantum=16, reset_on_triple_fault=0"
case "$model" in
  x2apic-generic) cpu_lines="cpu: model=bx_generic, $cpu_common
cpuid: level=6, apic=x2apic, x86_64=1" ;;
  xapic-generic) cpu_lines="cpu: model=bx_generic, $cpu_common
cpuid: level=6, apic=xapic, x86_64=1" ;;
  *) cpu_lines="cpu: model=$model, $cpu_common" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/run-bochs.XXXXXX")
if [ "$keep" -eq 1 ]; then
  echo "run-bochs: work directory $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi

# The same GRUB rescue ISO run-qemu.sh --grub-bios/--uefi uses (Multiboot 1 here).
if ! "$(dirname "$0")/make-grub-iso.sh" "$kernel" "$work/boot.iso" --command multiboot \
     --append "$append"; then
  echo "run-bochs: could not build the GRUB ISO" >&2
  exit 126
fi

# Settings from shared/EMULATORS.md section 5: rfb because Debian's Bochs has no nogui,
# dummy sound because ALSA aborts without a device, unmapped=report for the port-0xF4 line.
cat >"$work/bochsrc" <<EOF
megs: $mem
$cpu_lines
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=cdrom, path=boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.log
display_library: rfb, options="timeout=0"
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
speaker: enabled=0
log: bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore, unmapped=report
EOF
echo c >"$work/cont.rc"   # the Debian binary has the debugger built in: "continue" at once
: >"$work/serial.log"

cd "$work"
timeout --kill-after=10 "$timeout_s" bochs -q -f bochsrc -rc cont.rc </dev/null >bochs.out 2>&1 &
bochs_pid=$!
tail -n +1 -f --pid="$bochs_pid" serial.log   # streams COM1 until Bochs ends
set +e
wait "$bochs_pid"
status=$?
set -e
[ -n "$log" ] && cp serial.log "$log"

if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "run-bochs: timed out after ${timeout_s}s" >&2
  exit 124
fi
if [ ! -s serial.log ] && ! grep -q 'CPU is in' bochs.log 2>/dev/null; then
  tail -n 20 bochs.out >&2
  echo "run-bochs: Bochs did not start (status $status)" >&2
  exit 126
fi
# "unmapped: 8-bit write to 00f4 = 46": the value is hex. The first write is the kernel's code.
code=$(sed -n 's/.*unmapped: 8-bit write to 00f4 = \([0-9a-fA-F]\{1,2\}\).*/\1/p' bochs.log |
  head -n 1)
if [ -z "$code" ]; then
  grep -E '>>PANIC<<|3rd \(1[34]\) exception|exception\(\)' bochs.log | tail -n 5 >&2 || true
  echo "run-bochs: no exit code written to port 0xF4 (Bochs status $status)" >&2
  exit 125
fi
exit $((16#$code))
