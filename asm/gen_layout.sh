#!/bin/sh
# asm-offsets: compile asm/asm_offsets.cpp to assembly with the target compiler (g++ or
# clang++) and turn its "->NAME VALUE" markers into nasm %defines:
#   gen_layout.sh OUT.inc COMPILER [ARGS...] SRC
# The compiler writes to a file, not a pipe, so its failure fails this script; so does any
# marker the sed below does not understand.
set -eu
out=$1; shift
"$@" -S -o "$out.s"
sed -n 's/.*"->\([A-Z0-9_]*\) \$\{0,1\}\([0-9][0-9]*\)".*/%define \1 \2/p' "$out.s" >"$out.tmp"
markers=$(grep -c '"->' "$out.s" || true)
defines=$(grep -c '^%define ' "$out.tmp" || true)
if [ "$defines" -eq 0 ] || [ "$defines" -ne "$markers" ]; then
  echo "gen_layout.sh: $markers markers in the compiler's output, $defines understood" >&2
  exit 1
fi
grep -q '^%define TP_SIZE ' "$out.tmp" || { echo "gen_layout.sh: no TP_SIZE" >&2; exit 1; }
rm -f "$out.s"
mv "$out.tmp" "$out"
