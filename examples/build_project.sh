#!/bin/sh
# Builds one of the minimal kernels as the standalone meson project it is, with smpboot as its
# subproject, exactly as an OS author's tree would (the boot suite boots the result):
#   build_project.sh PROJECT_DIR SMPBOOT_SOURCE_DIR WORK_DIR OUTPUT KERNEL_NAME
# The project is copied to WORK_DIR (a subproject must sit inside the project's own tree),
# configured with the CC/CXX in the environment and built; KERNEL_NAME is copied to OUTPUT.
set -eu
[ $# -eq 5 ] || { echo "usage: $0 PROJECT_DIR SMPBOOT_SOURCE_DIR WORK_DIR OUTPUT KERNEL_NAME" >&2; exit 2; }
project=$(cd "$1" && pwd)
smpboot=$(cd "$2" && pwd)
work=$3 output=$4 name=$5
rm -rf "$work"
mkdir -p "$work/src/subprojects"
cp -RL "$project/." "$work/src"  # -L: minimal-c shares boot.asm by symlink
ln -s "$smpboot" "$work/src/subprojects/smpboot"
meson setup --wrap-mode=nodownload --force-fallback-for=smpboot "$work/src" "$work/build" \
  >"$work/setup.log" 2>&1 || { cat "$work/setup.log" >&2; exit 1; }
ninja -C "$work/build" >"$work/compile.log" 2>&1 || { cat "$work/compile.log" >&2; exit 1; }
cp "$work/build/$name" "$output"
