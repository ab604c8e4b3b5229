#!/bin/bash
# Builds one libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) and runs it,
# seeded from tests/data.   run_fuzz.sh madt|cpuid_dump|acpi RUNS [OUT_DIR] [extra libFuzzer args]
# RUNS is a number of executions (the smoke run in the test suite) or 0 for "until stopped".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=$1 runs=$2 out=${3:-$root/build-fuzz}
shift $(( $# >= 3 ? 3 : 2 ))
mkdir -p "$out"
exe=$out/fuzz_$target
src=$here/fuzz_$target.cpp
if [ ! -x "$exe" ] || [ -n "$(find "$root/include" "$root/tools/inspect" "$src" -newer "$exe" -print -quit)" ]; then
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/tools/inspect" "$src" -o "$exe"
fi
corpus=$out/corpus_$target
mkdir -p "$corpus"
case $target in
  madt) seeds=$root/tests/data/madt; filter='*.apic.dat' ;;
  cpuid_dump) seeds=$root/tests/data/cpuid; filter='*.cpuid.txt' ;;
  acpi) seeds=$out/acpi_seed_images; filter='*.mem'
        [ -d "$seeds" ] || python3 "$here/make_acpi_seeds.py" "$root/tests/data/acpi" "$seeds" ;;
  *) echo "run_fuzz: unknown target $target" >&2; exit 2 ;;
esac
seed_dir=$out/seeds_$target
if [ ! -d "$seed_dir" ]; then
  mkdir -p "$seed_dir"
  find "$seeds" -name "$filter" -exec cp {} "$seed_dir/" \;
fi
case $target in madt|acpi) max_len=4096 ;; *) max_len=65536 ;; esac
args=(-max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
[ "$runs" -gt 0 ] && args+=(-runs="$runs")
# Inputs that once crashed a target run first, every time (tests/fuzz/regressions/).
regressions=$here/regressions/$target
"$exe" -runs=0 "$regressions"/* >/dev/null 2>&1 || { echo "run_fuzz: a regression input fails again:"; "$exe" -runs=0 "$regressions"/*; exit 1; }
exec "$exe" "${args[@]}" "$@" "$corpus" "$seed_dir"
