#!/bin/sh
# Compile one public header on its own, freestanding, as a kernel would:
#   check_header.sh g++|clang++|gcc|clang INCLUDE_DIR RELATIVE_HEADER
# gcc and clang compile it as C11 (the C API header, smpboot/smpboot.h), pedantic.
set -eu
compiler=$1 include_dir=$2 header=$3
case "$compiler" in
  gcc|clang)
    [ "$compiler" = clang ] && set -- clang --target=x86_64-elf || set -- gcc
    printf '#include <%s>\n' "$header" | "$@" -std=c11 -ffreestanding -mno-red-zone \
      -mgeneral-regs-only -mcmodel=kernel -fno-pic -Wall -Wextra -Wpedantic -Werror \
      -fsyntax-only -I"$include_dir" -x c -
    exit 0 ;;
  clang++) set -- clang++ --target=x86_64-elf ;;
  *) set -- "$compiler" ;;
esac
printf '#include <%s>\n' "$header" | "$@" -std=c++20 -ffreestanding -nostdinc++ \
  -fno-exceptions -fno-rtti -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-pic \
  -Wall -Wextra -Werror -fsyntax-only -I"$include_dir" -x c++ -
