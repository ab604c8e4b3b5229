#!/bin/bash
# Builds a GRUB rescue ISO that boots a Multiboot kernel, for BIOS (grub-pc-bin) and UEFI
# (grub-efi-amd64-bin) alike: grub-mkrescue puts every installed GRUB platform on one image.
#
# Usage: scripts/make-grub-iso.sh KERNEL OUT.iso [--command multiboot2|multiboot] [--append "args"]
#   --command  the grub.cfg loader command                      default multiboot2
#   --append   kernel command line (GRUB hands the kernel just these words, without the path)
# Exit status: 0, 2 bad usage, 126 grub-mkrescue failed (its output on stderr).
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 2 ] || usage
kernel=$1 out=$2
shift 2
command=multiboot2 append=""
while [ $# -gt 0 ]; do
  case "$1" in
    --command) command=$2; shift 2 ;;
    --append) append=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "make-grub-iso: unknown option $1" >&2; usage ;;
  esac
done
case "$command" in multiboot|multiboot2) ;; *) echo "make-grub-iso: bad --command $command" >&2; exit 2 ;; esac
[ -f "$kernel" ] || { echo "make-grub-iso: no kernel at $kernel" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/make-grub-iso.XXXXXX")
trap 'rm -rf "$work"' EXIT

# GRUB's command parser treats $ ; quotes and braces specially: pass every word single-quoted.
grub_args=""
for word in $append; do
  if [[ "$word" == *"'"* ]]; then
    echo "make-grub-iso: a single quote cannot be passed through grub.cfg" >&2
    exit 2
  fi
  grub_args+=" '$word'"
done
mkdir -p "$work/iso/boot/grub"
cp "$kernel" "$work/iso/boot/kernel"
# No menu, no video: GRUB EFI then says "no suitable video mode found" and "no console will be
# available to OS" and boots anyway, harmless for a kernel that only uses COM1.
cat >"$work/iso/boot/grub/grub.cfg" <<EOF
set timeout=0
$command /boot/kernel$grub_args
boot
EOF
if ! grub-mkrescue -o "$out" "$work/iso" >"$work/grub-mkrescue.out" 2>&1; then
  cat "$work/grub-mkrescue.out" >&2
  echo "make-grub-iso: grub-mkrescue failed" >&2
  exit 126
fi
