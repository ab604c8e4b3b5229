#!/bin/bash
# Builds the platform layer with the stub kmain (stub_kmain.cpp) into a bootable test kernel,
# without meson and without the smpboot library. README-build.md explains every flag.
#
# Usage: examples/kernel/platform/build-standalone.sh [OUT_DIR]
#   OUT_DIR defaults to build-platform/ (git-ignored, separate from meson's build/); the kernel is
#   OUT_DIR/stub-kernel.elf
#   CXX=clang++ (default) | g++      LD=ld.lld (default) | ld      EXTRA_CXXFLAGS="-g ..."
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel_dir=$(dirname "$here")
root=$(cd "$kernel_dir/../.." && pwd)
out=${1:-$root/build-platform}
CXX=${CXX:-clang++}
LD=${LD:-ld.lld}
mkdir -p "$out"

cxxflags=(-std=c++20 -ffreestanding -nostdinc++ -fno-exceptions -fno-rtti -mno-red-zone
          -mgeneral-regs-only -fno-pic -fno-stack-protector -mcmodel=small -O2 -Wall -Wextra
          -I "$root/include")  # smpboot's discovery/acpi.hpp and boot/sipi_page.hpp
case "$(basename "$CXX")" in
  clang++*) cxxflags=(--target=x86_64-elf "${cxxflags[@]}") ;;
esac
# shellcheck disable=SC2206
cxxflags+=(${EXTRA_CXXFLAGS:-})

ldflags=(-T "$kernel_dir/linker.ld" -nostdlib -static -z max-page-size=0x1000)
case "$(basename "$LD")" in
  ld.lld*) ;;
  *) ldflags=(-m elf_x86_64 "${ldflags[@]}" --no-warn-rwx-segments) ;;  # GNU ld >= 2.39
esac

objs=()
for src in boot isr; do  # boot.o first: the Multiboot header must be in the file's first 8 KiB
  nasm -f elf64 -w+all -o "$out/$src.o" "$here/$src.asm"
  objs+=("$out/$src.o")
done
for src in console interrupts acpi timing platform boot_info stub_kmain; do
  "$CXX" "${cxxflags[@]}" -c "$here/$src.cpp" -o "$out/$src.o"
  objs+=("$out/$src.o")
done
"$LD" "${ldflags[@]}" -o "$out/stub-kernel.elf" "${objs[@]}"

if command -v grub-file >/dev/null && ! grub-file --is-x86-multiboot "$out/stub-kernel.elf"; then
  echo "build-standalone: $out/stub-kernel.elf has no valid Multiboot header" >&2
  exit 1
fi
echo "$out/stub-kernel.elf"
