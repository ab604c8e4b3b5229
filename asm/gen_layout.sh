#!/bin/sh
# asm-offsets: compile boot/asm_offsets.cpp to assembly with the target compiler and turn its
# "->NAME VALUE" markers into nasm %defines.   gen_layout.sh OUT.inc COMPILER [ARGS...] SRC
set -eu
out=$1; shift
"$@" -S -o - | sed -n 's/.*"->\([A-Z0-9_]*\) \$\{0,1\}\(-\{0,1\}[0-9][0-9]*\)".*/%define \1 \2/p' >"$out.tmp"
grep -q '^%define TP_SIZE ' "$out.tmp" || { echo "gen_layout.sh: no offsets found" >&2; exit 1; }
mv "$out.tmp" "$out"
