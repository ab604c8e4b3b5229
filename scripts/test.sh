#!/bin/bash
# The whole test suite: install what is missing, build, run every meson test suite (unit,
# corpus, headers, boot, torture, sim, fuzz, consumer), then the sanitizer builds:
# the simulator under ThreadSanitizer and the unit tests under AddressSanitizer + UBSan.
# Usage: scripts/test.sh [extra meson test args, e.g. --suite unit]   (extra args skip the
#        sanitizer builds)
set -euo pipefail
source "$(dirname "$0")/common.sh"
smpboot_install_packages
smpboot_build
cd "$SMPBOOT_BUILD"
meson test --print-errorlogs --num-processes "$(nproc)" "$@"
[ $# -eq 0 ] || exit 0

# Sanitizer builds: plain `meson setup -Db_sanitize=...` directories, as anyone would make
# them; only the targets the suites need are built. Zero reports allowed: a report fails the
# test (TSan and ASan exit non-zero; UBSan is made fatal).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1
for spec in "thread:sim:tests/sim/smpboot-sim" \
            "address,undefined:unit corpus:tests/smpboot-unit tests/smpboot-catch2 tests/smpboot-corpus tools/smpboot-inspect asm/smpboot_layout.inc asm/smpboot_layout_g__.inc asm/smpboot_layout_clang__.inc"; do
  IFS=: read -r sanitizer suites targets <<<"$spec"
  dir=$SMPBOOT_ROOT/build-${sanitizer//,/-}
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$SMPBOOT_ROOT" -Db_sanitize="$sanitizer" \
      -Db_lundef=false -Dexample=false -Dboot_tests=false >/dev/null
  # shellcheck disable=SC2086
  ninja -C "$dir" $targets
  echo "== suites $suites under -fsanitize=$sanitizer"
  suite_args=()
  for s in $suites; do suite_args+=(--suite "$s"); done
  meson test -C "$dir" --no-rebuild --print-errorlogs "${suite_args[@]}" --num-processes "$(nproc)"
done
