#!/bin/bash
# The whole test suite: install what is missing, build, run every meson test suite.
# Usage: scripts/test.sh [extra meson test args, e.g. --suite unit]
set -euo pipefail
source "$(dirname "$0")/common.sh"
smpboot_install_packages
smpboot_build
cd "$SMPBOOT_BUILD"
meson test --print-errorlogs --num-processes "$(nproc)" "$@"
