#!/bin/sh
# gen_layout.sh must fail loudly, and write no include, when the compiler fails or when its
# output holds no complete layout (it once exited 0 with an incomplete include):
#   test_gen_layout_fails.sh GEN_LAYOUT COMPILER [ARGS...]
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smpboot-gen-layout.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
# check NAME SOURCE GEN_LAYOUT COMPILER [ARGS...]: gen_layout.sh must fail and write nothing.
check() {
  name=$1 text=$2 gen=$3; shift 3
  printf '%s\n' "$text" >"$tmp/$name.cpp"
  if "$gen" "$tmp/$name.inc" "$@" "$tmp/$name.cpp" >"$tmp/$name.log" 2>&1; then
    echo "FAIL: $name: gen_layout.sh exited 0"; status=1
  elif [ -e "$tmp/$name.inc" ]; then
    echo "FAIL: $name: gen_layout.sh failed but wrote $name.inc"; status=1
  else
    echo "ok: $name: gen_layout.sh failed: $(tail -n 1 "$tmp/$name.log")"
  fi
}
check compiler-error 'void f() { this is not C++; }' "$@"
check no-markers 'void f() {}' "$@"
check no-size 'void f() { asm volatile("\n.ascii \"->TP_MAGIC %P0\"" ::"i"(8)); }' "$@"
# The control: the same compiler and arguments on a complete (one-define) layout succeed.
printf '%s\n' 'void f() { asm volatile("\n.ascii \"->TP_SIZE %P0\"" ::"i"(8)); }' >"$tmp/ok.cpp"
gen=$1; shift
if "$gen" "$tmp/ok.inc" "$@" "$tmp/ok.cpp" && grep -q '^%define TP_SIZE 8$' "$tmp/ok.inc"; then
  echo "ok: control: a complete layout gives %define TP_SIZE 8"
else
  echo "FAIL: control: gen_layout.sh failed on a valid source"; status=1
fi
exit $status
