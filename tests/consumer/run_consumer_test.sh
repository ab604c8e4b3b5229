#!/bin/sh
# Builds tests/consumer/project, a freestanding kernel-like project, against smpboot the way
# an OS author would get it, with g++ alone (no clang on PATH), and checks that the linked
# result needs no runtime and embeds the library's own trampoline; then builds the two
# bootable minimal kernels of examples/ (minimal with CXX=g++, minimal-c with CC=gcc CXX=g++
# and the C API, pkg-config smpboot-c when installed) by the same route on the same PATH,
# checks that they link the library's nmi_entry.o and embed its trampoline, and boots each in
# QEMU at 4 CPUs: every CPU online, both hotplug cycles (AP and CPU0), RESULT pass, exit 0.
#   run_consumer_test.sh subproject|installed SMPBOOT_SOURCE_DIR
# subproject: subprojects/smpboot is a symlink to the source tree, found by dependency(); the
#             trampoline is the subproject's variable smpboot_trampoline, the NMI entry
#             smpboot_nmi_entry (and the dependency's variable nmi_entry).
# installed:  the library configured with every optional part off, installed with
#             `meson install --destdir`, found with pkg-config; the trampoline is the
#             pkg-config variable `trampoline`, the NMI entry object the variable `nmi_entry`.
# Builds run ninja directly: `meson compile` first re-detects ninja by running `ninja --version`,
# which once failed ("Cannot find ninja") in a full parallel suite run on this 2-core machine.
# Everything happens in a fresh temporary directory (KEEP_TMP=1 keeps it); no network.
set -eu

usage() { echo "usage: $0 subproject|installed SMPBOOT_SOURCE_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
mode=$1
src=$(cd "$2" && pwd)
case "$mode" in subproject|installed) ;; *) usage ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smpboot-consumer.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "temporary directory kept: $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# A PATH with only the tools a g++ kernel build needs: no clang, clang++, ld.lld or c++.
tools="$tmp/tools"
mkdir "$tools"
for t in g++ gcc as ld ar nasm meson ninja pkg-config sh sed grep mv rm cat; do
  p=$(command -v "$t") || fail "$t is not installed"
  ln -s "$p" "$tools/$t"
done
ln -s /usr/bin/python3 "$tools/python3"
for t in clang clang++ ld.lld c++ cc; do
  if PATH=$tools command -v "$t" >/dev/null 2>&1; then fail "$t is reachable on the test PATH"; fi
done
ok "PATH=$tools: g++, gcc, nasm and build tools only; no clang, clang++, ld.lld, c++ or cc"
# The boot step (only the build is clang-free) runs QEMU from the normal PATH.
command -v qemu-system-x86_64 >/dev/null \
  || fail "qemu-system-x86_64 is not installed: the minimal kernels are booted in QEMU"
run() { env PATH="$tools" CXX=g++ "$@"; }
run_cc() { env PATH="$tools" CC=gcc CXX=g++ "$@"; }  # for the C kernel

cp -R "$src/tests/consumer/project" "$tmp/project"
cd "$tmp"

if [ "$mode" = subproject ]; then
  mkdir -p project/subprojects
  ln -s "$src" project/subprojects/smpboot
  # Force the subproject even if an smpboot.pc happens to be installed on this machine.
  setup_args="--wrap-mode=nodownload --force-fallback-for=smpboot"
  expect_include=../project/subprojects/smpboot/include  # meson writes it relative
  include_dir=$src/include
  expect_trampoline=$tmp/build-consumer/subprojects/smpboot/asm/trampoline.bin
  expect_nmi_entry=$tmp/build-consumer/subprojects/smpboot/asm/nmi_entry.o
  layout_ninja=build-consumer/build.ninja
else
  stage="$tmp/stage"
  # The library as a distribution would build it: every optional part off, and still the
  # trampoline is built and installed. Only the devel tag: what a kernel consumes.
  run meson setup -Dtests=false -Dtools=false -Dexample=false -Dboot_tests=false \
    "$src" build-lib >lib-setup.log 2>&1 || { cat lib-setup.log; fail "meson setup of smpboot"; }
  run meson install -C build-lib --tags devel --destdir "$stage" >install.log 2>&1 \
    || { cat install.log; fail "meson install --destdir"; }
  ok "configured smpboot with tests, tools and example off, built and installed it with g++"
  pc=$(find "$stage" -name smpboot.pc | head -n 1)
  [ -n "$pc" ] || fail "no smpboot.pc under $stage"
  # The .pc file names the real prefix (/usr/local); the sysroot maps it into the stage, as
  # for a cross-compiled sysroot. PKG_CONFIG_LIBDIR: no other pkg-config directory is read.
  PKG_CONFIG_LIBDIR=$(dirname "$pc")
  PKG_CONFIG_SYSROOT_DIR=$stage
  unset PKG_CONFIG_PATH
  export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
  cflags=$(pkg-config --cflags smpboot) || fail "pkg-config --cflags smpboot"
  ok "installed smpboot.pc at ${pc#"$stage"}: Cflags" $cflags
  expect_include=
  for flag in $cflags; do
    case "$flag" in -I*) expect_include=${flag#-I} ;; esac
  done
  case "$expect_include" in
    "$stage"/*) ;;
    *) fail "pkg-config include dir '$expect_include' is not in the stage" ;;
  esac
  include_dir=$expect_include
  [ -f "$expect_include/smpboot/smpboot.hpp" ] || fail "no smpboot/smpboot.hpp in $expect_include"
  diff -r "$src/include/smpboot" "$expect_include/smpboot" >/dev/null \
    || fail "installed headers differ from $src/include/smpboot"
  ok "installed headers are identical to the source tree's"
  expect_trampoline=$(pkg-config --variable=trampoline smpboot) \
    || fail "pkg-config --variable=trampoline smpboot"
  case "$expect_trampoline" in
    "$stage"/*/share/smpboot/trampoline.bin) ;;
    *) fail "pkg-config variable trampoline='$expect_trampoline' is not <datadir>/smpboot/trampoline.bin in the stage" ;;
  esac
  share=$(dirname "$expect_trampoline")
  for f in trampoline.bin trampoline.asm smpboot_layout.inc; do
    [ -f "$share/$f" ] || fail "no $f installed in ${share#"$stage"}"
  done
  ok "installed ${share#"$stage"}/: trampoline.bin (pkg-config variable trampoline), trampoline.asm, smpboot_layout.inc"
  # The recipe for kernels that assemble it themselves (docs/porting-guide.md) gives the
  # same bytes.
  run nasm -f bin -I "$share/" "$share/trampoline.asm" -o own-trampoline.bin \
    || fail "nasm on the installed trampoline.asm and smpboot_layout.inc"
  cmp -s own-trampoline.bin "$expect_trampoline" \
    || fail "the installed trampoline.asm assembles to other bytes than trampoline.bin"
  ok "the installed trampoline.asm + smpboot_layout.inc assemble to the installed trampoline.bin"
  expect_nmi_entry=$(pkg-config --variable=nmi_entry smpboot) \
    || fail "pkg-config --variable=nmi_entry smpboot"
  [ "$expect_nmi_entry" = "$share/nmi_entry.o" ] \
    || fail "pkg-config variable nmi_entry='$expect_nmi_entry' is not $share/nmi_entry.o"
  for f in nmi_entry.o nmi_entry.asm; do
    [ -f "$share/$f" ] || fail "no $f installed in ${share#"$stage"}"
  done
  run nasm -f elf64 -I "$share/" "$share/nmi_entry.asm" -o own-nmi_entry.o \
    || fail "nasm on the installed nmi_entry.asm and smpboot_layout.inc"
  ok "installed ${share#"$stage"}/: nmi_entry.o (pkg-config variable nmi_entry), nmi_entry.asm, which assembles"
  # The C API for C kernels: libsmpboot_c.a and the pkg-config package smpboot-c beside
  # smpboot.pc, with the same trampoline and NMI entry variables.
  pc_c=$(find "$stage" -name smpboot-c.pc | head -n 1)
  [ "$pc_c" = "$(dirname "$pc")/smpboot-c.pc" ] || fail "no smpboot-c.pc beside ${pc#"$stage"}"
  libs_c=$(pkg-config --libs smpboot-c) || fail "pkg-config --libs smpboot-c"
  lib_c=
  for flag in $libs_c; do
    case "$flag" in -L*) [ -f "${flag#-L}/libsmpboot_c.a" ] && lib_c=${flag#-L}/libsmpboot_c.a ;; esac
  done
  case "$lib_c" in
    "$stage"/*) ;;
    *) fail "pkg-config --libs smpboot-c ($libs_c) names no libsmpboot_c.a in the stage" ;;
  esac
  case " $libs_c " in *" -lsmpboot_c "*) ;; *) fail "pkg-config --libs smpboot-c has no -lsmpboot_c: $libs_c" ;; esac
  cflags_c=$(pkg-config --cflags smpboot-c) || fail "pkg-config --cflags smpboot-c"
  case " $cflags_c " in
    *-std=*) fail "pkg-config --cflags smpboot-c names a language standard (a C kernel uses it): $cflags_c" ;;
    *" -I$expect_include "*) ;;
    *) fail "pkg-config --cflags smpboot-c is '$cflags_c', without -I$expect_include" ;;
  esac
  for v in trampoline nmi_entry; do
    [ "$(pkg-config --variable=$v smpboot-c)" = "$(pkg-config --variable=$v smpboot)" ] \
      || fail "smpboot-c.pc and smpboot.pc disagree on the variable $v"
  done
  [ -f "$share/smpboot_c.cpp" ] || fail "no smpboot_c.cpp installed in ${share#"$stage"}"
  nm "$lib_c" | grep -q ' T smpboot_bring_up$' || fail "$lib_c does not define smpboot_bring_up"
  ok "installed ${pc_c#"$stage"}: Libs $libs_c (${lib_c#"$stage"}), same trampoline and nmi_entry; ${share#"$stage"}/smpboot_c.cpp"
  setup_args="--wrap-mode=nofallback"
  layout_ninja=build-lib/build.ninja
fi

# shellcheck disable=SC2086  # setup_args is a list of words
run meson setup $setup_args project build-consumer >setup.log 2>&1 \
  || { cat setup.log; fail "meson setup of the consumer ($mode)"; }
run ninja -C build-consumer >compile.log 2>&1 \
  || { cat compile.log; fail "build of the consumer ($mode)"; }
compiler=$(sed -n 's/^C++ compiler for the host machine: [^(]*(\([^ ]* [^ ]*\) .*/\1/p' setup.log | head -n 1)
case "$compiler" in gcc*) ;; *) fail "the consumer was configured with '$compiler', not g++" ;; esac
ok "configured and built the consumer with smpboot as $mode, compiler $compiler"

# The layout include was generated by g++ (the compiler meson was configured with).
layout_cmd=$(grep -A1 'smpboot_layout.inc: CUSTOM_COMMAND' "$layout_ninja" | tail -n 1)
case "$layout_cmd" in
  *clang*) fail "the layout step ran clang: $layout_cmd" ;;
  *gen_layout.sh*g++*) ok "smpboot_layout.inc was generated with g++" ;;
  *) fail "no g++ layout step in $layout_ninja: $layout_cmd" ;;
esac

# The headers must come from where this mode says, not from the source tree by accident.
grep -q -- "-I$expect_include" build-consumer/compile_commands.json \
  || fail "the consumer was not compiled with -I$expect_include"
if [ "$mode" = installed ] && grep -q -- "-I$src/include" build-consumer/compile_commands.json; then
  fail "the installed-mode consumer was compiled against the source tree"
fi
ok "compiled with -I$expect_include"

# The trampoline the consumer embedded is the one the library exports.
used=$(sed -n 's/^Message: smpboot trampoline: //p' setup.log)
[ "$used" = "$expect_trampoline" ] \
  || fail "the consumer embedded '$used', not the library's export '$expect_trampoline'"
[ -f "$expect_trampoline" ] || fail "$expect_trampoline was not built"
magic=$(od -A n -t c -j 8 -N 4 "$expect_trampoline" | tr -d ' ')
[ "$magic" = SMPT ] || fail "$expect_trampoline has '$magic' at offset 8, not SMPT"
ok "the consumer got the trampoline from the library: $expect_trampoline (SMPT at offset 8)"

# The NMI entry the consumer linked is the one the library exports.
used=$(sed -n 's/^Message: smpboot nmi_entry: //p' setup.log)
[ "$used" = "$expect_nmi_entry" ] \
  || fail "the consumer linked the NMI entry '$used', not the library's export '$expect_nmi_entry'"
[ -f "$expect_nmi_entry" ] || fail "$expect_nmi_entry was not built"
for sym in smpboot_nmi_entry smpboot_park_loop smpboot_park_loop_end; do
  nm "$expect_nmi_entry" | grep -q " T $sym\$" || fail "$expect_nmi_entry does not define $sym"
done
nm "$expect_nmi_entry" | grep -q ' U smpboot_nmi_dispatch$' \
  || fail "$expect_nmi_entry does not call smpboot_nmi_dispatch"
ok "the consumer got the NMI entry from the library: $expect_nmi_entry (smpboot_nmi_entry, smpboot_park_loop; calls smpboot_nmi_dispatch)"

# The library's blob checks, built with g++ against this route's headers, on the blob as it
# was linked into the kernel.
run g++ -std=c++20 -Wall -Wextra -Werror -I"$include_dir" "$src/tests/consumer/check_blob.cpp" \
  -o check-blob >check-blob.log 2>&1 || { cat check-blob.log; fail "build of check_blob"; }

for exe in consumer-kernel-O0 consumer-kernel-O2; do
  bin=build-consumer/$exe
  [ -f "$bin" ] || fail "$bin was not built"
  undefined=$(nm -u "$bin")
  [ -z "$undefined" ] || fail "$exe has undefined symbols:
$undefined"
  ok "$exe: nm -u lists no undefined symbols" \
    "(no __cxa_*, _Unwind_*, operator new/delete, __stack_chk_fail, libgcc)"
  nm "$bin" | grep -q ' T consumer_main$' || fail "$exe does not define consumer_main"
  # A static constructor would never run in a kernel without a C runtime to call it.
  if readelf -S -W "$bin" | grep -E -q '\.(init_array|ctors|preinit_array)'; then
    fail "$exe has static constructors"
  fi
  ok "$exe: entry consumer_main, no static constructors"
  for sym in smpboot_nmi_entry smpboot_park_loop smpboot_nmi_dispatch; do
    nm "$bin" | grep -q " T $sym\$" || fail "$exe does not define $sym"
  done
  ok "$exe: links nmi_entry.o (smpboot_nmi_entry, smpboot_park_loop) and resolves its smpboot_nmi_dispatch"
  objcopy -O binary --only-section=.smpboot_trampoline "$bin" "$exe.trampoline.bin"
  cmp -s "$exe.trampoline.bin" "$expect_trampoline" \
    || fail "$exe does not embed the library's trampoline byte for byte"
  ./check-blob "$exe.trampoline.bin" || fail "the trampoline in $exe fails the blob checks"
  ok "$exe embeds the library's trampoline, and it passes the blob checks"
done

# At -O0 every instantiated template keeps its own symbol: prove the protocol was compiled
# for both policies with the consumer's own Clock and Waiter, not just declared.
symbols=$(nm -C build-consumer/consumer-kernel-O0)
for want in \
  'smpboot::bring_up_aps<64u, smpboot::XApic<smpboot::x86_64::NativeMmio>, (anonymous namespace)::AssumedTscClock, (anonymous namespace)::PauseWaiter>' \
  'smpboot::bring_up_aps<64u, smpboot::X2Apic<smpboot::x86_64::NativeMsr>, (anonymous namespace)::AssumedTscClock, (anonymous namespace)::PauseWaiter>' \
  'smpboot::install_trampoline<64u>' \
  'smpboot::add_cpus_from_madt<64u>' \
  'smpboot::ap_entry<(anonymous namespace)::ConsumerAp>' \
  'smpboot::take_nmi_wake<64u>' \
  'smpboot::bring_online<smpboot::X2Apic<smpboot::x86_64::NativeMsr>, (anonymous namespace)::AssumedTscClock, (anonymous namespace)::PauseWaiter>' \
  'smpboot::Madt::parse'; do
  printf '%s\n' "$symbols" | grep -F -q "$want" || fail "consumer-kernel-O0 has no $want"
  ok "instantiated: $want"
done
# The two minimal kernels of examples/ (docs: each a standalone meson project), built by this
# route exactly as their authors would: examples/minimal with CXX=g++, examples/minimal-c with
# CC=gcc CXX=g++ (its C API library built by the consumer's g++), both on the clang-free PATH;
# then booted in QEMU at 4 CPUs (the boot may use the normal PATH: only the build is
# clang-free). Each must bring every CPU online and pass both hotplug cycles.
#   build_minimal DIR KERNEL LANGS RUNNER
build_minimal() {
  dir=$1 kernel=$2 langs=$3 runner=$4
  cp -RL "$src/examples/$dir" "$tmp/$dir"  # -L: minimal-c shares boot.asm and linker.ld by symlink
  if [ "$mode" = subproject ]; then
    mkdir -p "$dir/subprojects"
    ln -s "$src" "$dir/subprojects/smpboot"
    inc=../$dir/subprojects/smpboot/include
    blob_dir=$tmp/build-$dir/subprojects/smpboot/asm
  else
    inc=$expect_include
    blob_dir=$share
  fi
  # shellcheck disable=SC2086  # setup_args is a list of words
  $runner meson setup $setup_args "$dir" "build-$dir" >"setup-$dir.log" 2>&1 \
    || { cat "setup-$dir.log"; fail "meson setup of examples/$dir ($mode)"; }
  $runner ninja -C "build-$dir" >"compile-$dir.log" 2>&1 \
    || { cat "compile-$dir.log"; fail "build of examples/$dir ($mode)"; }
  for lang in $langs; do
    c=$(sed -n "s/^$lang compiler for the host machine: [^(]*(\\([^ ]* [^ ]*\\) .*/\\1/p" \
      "setup-$dir.log" | head -n 1)
    case "$c" in gcc*) ;; *) fail "examples/$dir: the $lang compiler is '$c', not gcc" ;; esac
  done
  dep=$(grep -E '^(Run-time dependency|Dependency) smpboot(-c)? .*found: YES' "setup-$dir.log" \
    | head -n 1)
  case "$mode:$dep" in
    subproject:"Dependency smpboot"*"found: YES"*"(overridden)")
      grep -q '^Executing subproject smpboot' "setup-$dir.log" \
        || fail "examples/$dir did not execute the subproject smpboot" ;;
    installed:"Run-time dependency smpboot"*"found: YES"*) ;;
    *) fail "examples/$dir did not find smpboot as $mode: '$dep'" ;;
  esac
  grep -q -- "-I$inc" "build-$dir/compile_commands.json" \
    || fail "examples/$dir was not compiled with -I$inc"
  if [ "$mode" = installed ] && grep -q -- "$src/include" "build-$dir/compile_commands.json"; then
    fail "the installed-mode examples/$dir was compiled against the source tree"
  fi
  ok "examples/$dir: configured and built by $langs gcc with smpboot as $mode ($dep), -I$inc"
  bin=build-$dir/$kernel
  [ -f "$bin" ] || fail "$bin was not built"
  # The library's objects, from this route: nmi_entry.o on the link line (and for the C
  # kernel libsmpboot_c.a), boot.o assembled against the directory of its trampoline.bin.
  grep -q -- "$blob_dir/nmi_entry.o" "build-$dir/build.ninja" \
    || fail "examples/$dir was not linked with $blob_dir/nmi_entry.o"
  grep -q -- "-I $blob_dir/" "build-$dir/build.ninja" \
    || fail "the boot.o of examples/$dir did not incbin from $blob_dir/"
  if [ "$dir" = minimal-c ]; then
    if [ "$mode" = installed ]; then want_lib=$lib_c; else want_lib=subprojects/smpboot/src/libsmpboot_c.a; fi
    grep -q -- "$want_lib" "build-$dir/build.ninja" || fail "examples/$dir was not linked with $want_lib"
  fi
  undefined=$(nm -u "$bin")
  [ -z "$undefined" ] || fail "$kernel has undefined symbols:
$undefined"
  for sym in kmain smpboot_nmi_entry smpboot_park_loop smpboot_park_loop_end smpboot_nmi_dispatch; do
    nm "$bin" | grep -q " T $sym\$" || fail "$kernel does not define $sym"
  done
  ok "$kernel: no undefined symbols; links the library's nmi_entry.o (smpboot_nmi_entry, smpboot_park_loop) and defines smpboot_nmi_dispatch"
  # The trampoline it embeds (between smpboot_trampoline_start and _end) is the library's.
  start=$(nm "$bin" | sed -n 's/^\([0-9a-f]*\) . smpboot_trampoline_start$/\1/p')
  end=$(nm "$bin" | sed -n 's/^\([0-9a-f]*\) . smpboot_trampoline_end$/\1/p')
  [ -n "$start" ] || fail "$kernel has no smpboot_trampoline_start"
  [ -n "$end" ] || fail "$kernel has no smpboot_trampoline_end"
  rodata=$(readelf -S -W "$bin" | sed -n 's/.* \.rodata *PROGBITS *\([0-9a-f]*\) .*/\1/p')
  [ -n "$rodata" ] || fail "$kernel has no .rodata"
  objcopy -O binary --only-section=.rodata "$bin" "$kernel.rodata"
  dd if="$kernel.rodata" of="$kernel.trampoline.bin" bs=1 skip=$((0x$start - 0x$rodata)) \
    count=$((0x$end - 0x$start)) 2>/dev/null
  cmp -s "$kernel.trampoline.bin" "$blob_dir/trampoline.bin" \
    || fail "$kernel does not embed $blob_dir/trampoline.bin byte for byte"
  ./check-blob "$kernel.trampoline.bin" >"check-blob-$kernel.log" 2>&1 \
    || { cat "check-blob-$kernel.log"; fail "the trampoline in $kernel fails the blob checks"; }
  ok "$kernel embeds the library's trampoline ($blob_dir/trampoline.bin), and it passes the blob checks"
  # Boot it: every CPU online, the AP and CPU0 hotplug cycles, exit code 0.
  status=0
  "$src/scripts/run-qemu.sh" "$bin" --smp 4 --timeout 120 >"boot-$dir.log" 2>&1 || status=$?
  for want in 'MINIMAL cpus=4/4' 'MINIMAL ap_cycle=ok' 'MINIMAL cpu0_cycle=ok' 'MINIMAL online=4' \
              'MINIMAL RESULT pass'; do
    grep -E -q "^$want( |$(printf '\r')?\$)" "boot-$dir.log" || { cat "boot-$dir.log"; fail "$kernel ($mode): no '$want'"; }
  done
  [ "$status" -eq 0 ] || { cat "boot-$dir.log"; fail "$kernel ($mode) exited with $status"; }
  ok "$kernel booted at 4 CPUs: $(grep '^MINIMAL cpus=' "boot-$dir.log" | tr -d '\r'), ap_cycle=ok, cpu0_cycle=ok, online=4, RESULT pass, exit 0"
}
build_minimal minimal minimal-kernel C++ run
build_minimal minimal-c minimal-c-kernel 'C C++' run_cc
echo "PASS consumer-$mode"
