#!/bin/sh
# asm-offsets: compile asm/asm_offsets.cpp to assembly with the target compiler (g++ or
# clang++) and turn its "->NAME VALUE" markers into nasm %defines:
#   gen_layout.sh OUT.inc COMPILER [ARGS...] SRC
# Fails, writing no OUT.inc, when the compiler fails (it writes to a file, not a pipe, so its
# status is this script's), when a marker is not understood, or when TP_SIZE is missing; the
# include is renamed into place only when complete. asm/test_gen_layout_fails.sh checks this.
set -eu
out=$1; shift
trap 'rm -f "$out.s" "$out.tmp"' EXIT
"$@" -S -o "$out.s" || { echo "gen_layout.sh: the compiler failed: $*" >&2; exit 1; }
sed -n 's/.*"->\([A-Z0-9_]*\) \$\{0,1\}\([0-9][0-9]*\)".*/%define \1 \2/p' "$out.s" >"$out.tmp"
markers=$(grep -c '"->' "$out.s" || true)
defines=$(grep -c '^%define ' "$out.tmp" || true)
if [ "$defines" -eq 0 ] || [ "$defines" -ne "$markers" ]; then
  echo "gen_layout.sh: $markers markers in the compiler's output, $defines understood" >&2
  exit 1
fi
grep -q '^%define TP_SIZE ' "$out.tmp" || { echo "gen_layout.sh: no TP_SIZE" >&2; exit 1; }
mv "$out.tmp" "$out"
