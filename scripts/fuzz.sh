#!/bin/bash
# Long fuzzing runs of the libFuzzer targets in tests/fuzz (the test suite runs them only for
# 20000 executions each). Crashes are written to build-fuzz/ as crash-* files.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 600)] [TARGET...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(madt cpuid_dump acpi)
smpboot_install_packages
out=$SMPBOOT_ROOT/build-fuzz
for t in "${targets[@]}"; do
  echo "== fuzz_$t for ${seconds}s"
  (cd "$out" 2>/dev/null || mkdir -p "$out" && cd "$out"
   "$SMPBOOT_ROOT/tests/fuzz/run_fuzz.sh" "$t" 0 "$out" -max_total_time="$seconds" 2>&1 |
     grep -E '^(#[0-9]+ +(DONE|pulse)|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' || true)
done
