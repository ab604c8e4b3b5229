#!/bin/sh
# Compile one public header on its own, freestanding, as a kernel would:
#   check_header.sh g++|clang++ INCLUDE_DIR RELATIVE_HEADER
set -eu
compiler=$1 include_dir=$2 header=$3
case "$compiler" in
  clang++) set -- clang++ --target=x86_64-elf ;;
  *) set -- "$compiler" ;;
esac
printf '#include <%s>\n' "$header" | "$@" -std=c++20 -ffreestanding -nostdinc++ \
  -fno-exceptions -fno-rtti -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-pic \
  -Wall -Wextra -Werror -fsyntax-only -I"$include_dir" -x c++ -
