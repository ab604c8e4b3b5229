#!/bin/bash
# Boots a Multiboot kernel in QEMU (TCG), shows its COM1 output and exits with the kernel's
# exit code (the byte it wrote to isa-debug-exit at port 0xF4).
#
# Usage: scripts/run-qemu.sh KERNEL [--smp N|SPEC] [--cpu MODEL] [--machine pc|q35]
#          [--mem MB] [--timeout SEC] [--append "args"] [--log FILE]
#          [--uefi | --grub-bios] [--grub-command multiboot2|multiboot] [-- extra qemu args]
#   --smp      N or a full -smp spec ("6,sockets=2,cores=3")        default 4
#   --cpu      -cpu model                                           default qemu64
#   --machine  pc | q35                                             default pc
#   --mem      guest RAM in MiB (the kernel image ends near 17 MiB)  default 32, 256 with --uefi
#   --timeout  seconds before the run is killed                     default 120, 300 with --uefi
#   --append   kernel command line (QEMU -kernel passes "KERNEL args", GRUB just the args)
#   --log      also write the serial output to FILE
#   --uefi     firmware OVMF (/usr/share/ovmf/OVMF.fd), the kernel loaded by GRUB EFI from a
#              rescue ISO (scripts/make-grub-iso.sh); OVMF's and GRUB's output come first
#   --grub-bios  SeaBIOS, the kernel loaded by GRUB (i386-pc) from the same kind of ISO
#   --grub-command  the GRUB loader command with --uefi / --grub-bios   default multiboot2
# Exit status: the kernel's code (QEMU status s -> (s-1)/2), or
#   124 timeout, 125 triple fault / plain shutdown (QEMU status 0),
#   126 QEMU refused to start (status 1, no serial output; see stderr), no ISO or no OVMF.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
kernel=$1
shift
smp=4 cpu=qemu64 machine=pc mem="" timeout_s="" append="" log="" boot=kernel grub_command=multiboot2
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smp) smp=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --uefi) boot=uefi; shift ;;
    --grub-bios) boot=grub-bios; shift ;;
    --grub-command) grub_command=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "run-qemu: unknown option $1" >&2; usage ;;
  esac
done
[ -f "$kernel" ] || { echo "run-qemu: no kernel at $kernel" >&2; exit 2; }
if [ "$boot" = uefi ]; then
  mem=${mem:-256} timeout_s=${timeout_s:-300}
else
  mem=${mem:-32} timeout_s=${timeout_s:-120}
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-qemu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
serial=$tmp/serial.log

# How the kernel gets in: QEMU's own Multiboot 1 loader, or GRUB from an ISO under SeaBIOS or
# OVMF. OVMF.fd as -bios keeps its variable store in RAM (nothing is written back).
case "$boot" in
  kernel) load=(-kernel "$kernel" -append "$append") ;;
  uefi|grub-bios)
    if ! "$(dirname "$0")/make-grub-iso.sh" "$kernel" "$tmp/boot.iso" --command "$grub_command" \
         --append "$append"; then
      echo "run-qemu: could not build the GRUB ISO" >&2
      exit 126
    fi
    load=(-cdrom "$tmp/boot.iso")
    if [ "$boot" = uefi ]; then
      [ -f "$ovmf" ] || { echo "run-qemu: no OVMF at $ovmf (Debian package ovmf)" >&2; exit 126; }
      load+=(-bios "$ovmf")
    fi
    ;;
esac

# COM1 goes to QEMU's stdout, which tee copies to the terminal and the log as it arrives, so
# a long or hung run shows progress. stdin is /dev/null: no monitor, no terminal raw mode.
#
# Under OVMF, a loaded host has once (1 of 10 OVMF boots in one full suite run) made OVMF list
# no boot option for the CD and start its setup UI ("UiApp") instead: the kernel never ran.
# That is the emulated firmware failing before any of our code, so such a run is stopped as
# soon as OVMF says so and started again (at most 3 attempts); every other outcome counts.
run_qemu_once() {
  timeout --kill-after=10 "$timeout_s" \
    qemu-system-x86_64 -machine "$machine" -accel tcg -cpu "$cpu" -smp "$smp" -m "$mem" \
      -nodefaults -display none -no-reboot -monitor none -serial stdio \
      -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
      -name "smpboot-run-$$-$1" \
      "${load[@]}" \
      "${extra[@]}" </dev/null | tee "$serial"
  echo "${PIPESTATUS[0]}" >"$tmp/status"
}
set +e
for attempt in 1 2 3; do
  : >"$serial"
  rm -f "$tmp/no_boot_option"
  run_qemu_once "$attempt" &
  runner=$!
  if [ "$boot" = uefi ]; then
    while kill -0 "$runner" 2>/dev/null; do
      if grep -q 'starting Boot0000 "UiApp"' "$serial" 2>/dev/null; then
        touch "$tmp/no_boot_option"
        pkill -f "smpboot-run-$$-$attempt" 2>/dev/null
        break
      fi
      sleep 1
    done
  fi
  wait "$runner"
  status=$(cat "$tmp/status" 2>/dev/null || echo 1)
  [ -f "$tmp/no_boot_option" ] || break
  echo "run-qemu: OVMF found no boot option for the GRUB CD (attempt $attempt); starting again" >&2
done
set -e
[ -n "$log" ] && cp "$serial" "$log"

if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "run-qemu: timed out after ${timeout_s}s" >&2
  exit 124
elif [ "$status" -eq 0 ]; then
  echo "run-qemu: QEMU exited with status 0 (triple fault or shutdown without isa-debug-exit)" >&2
  exit 125
elif [ "$status" -eq 1 ] && [ ! -s "$serial" ]; then
  echo "run-qemu: QEMU failed to start (status 1, no serial output)" >&2
  exit 126
elif [ $((status % 2)) -eq 1 ]; then
  exit $(((status - 1) / 2))
fi
echo "run-qemu: unexpected QEMU status $status" >&2
exit "$status"
