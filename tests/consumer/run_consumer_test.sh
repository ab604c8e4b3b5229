#!/bin/sh
# Builds tests/consumer/project, a freestanding kernel-like project, against smpboot the way
# an OS author would get it, and checks that the linked result needs no runtime at all:
#   run_consumer_test.sh subproject|installed SMPBOOT_SOURCE_DIR SMPBOOT_BUILD_DIR
# subproject: subprojects/smpboot is a symlink to the source tree, found by dependency().
# installed:  `meson install --destdir` from the build dir, found with pkg-config.
# Everything happens in a fresh temporary directory (KEEP_TMP=1 keeps it); no network.
set -eu

usage() { echo "usage: $0 subproject|installed SMPBOOT_SOURCE_DIR SMPBOOT_BUILD_DIR" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1
src=$(cd "$2" && pwd)
build=$(cd "$3" && pwd)
case "$mode" in subproject|installed) ;; *) usage ;; esac
MESON=${MESON:-meson}
NM=${NM:-nm}
READELF=${READELF:-readelf}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smpboot-consumer.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "temporary directory kept: $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

cp -R "$src/tests/consumer/project" "$tmp/project"
cd "$tmp"

if [ "$mode" = subproject ]; then
  mkdir -p project/subprojects
  ln -s "$src" project/subprojects/smpboot
  # Force the subproject even if an smpboot.pc happens to be installed on this machine.
  setup_args="--wrap-mode=nodownload --force-fallback-for=smpboot"
  expect_include=../project/subprojects/smpboot/include  # meson writes it relative
else
  stage="$tmp/stage"
  # Only the devel tag (headers + smpboot.pc): that is what a kernel consumes, and it does not
  # need host tools built. No rebuild: the headers are copied from the source tree and the
  # .pc file is written at configure time, and a nested ninja must not touch a build that a
  # running `meson test` owns.
  "$MESON" install -C "$build" --no-rebuild --tags devel --destdir "$stage" >install.log 2>&1 \
    || { cat install.log; fail "meson install --destdir"; }
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
  [ -f "$expect_include/smpboot/smpboot.hpp" ] || fail "no smpboot/smpboot.hpp in $expect_include"
  diff -r "$src/include/smpboot" "$expect_include/smpboot" >/dev/null \
    || fail "installed headers differ from $src/include/smpboot"
  ok "installed headers are identical to the source tree's"
  setup_args="--wrap-mode=nofallback"
fi

# shellcheck disable=SC2086  # setup_args is a list of words
"$MESON" setup $setup_args project build-consumer >setup.log 2>&1 \
  || { cat setup.log; fail "meson setup of the consumer ($mode)"; }
"$MESON" compile -C build-consumer >compile.log 2>&1 \
  || { cat compile.log; fail "build of the consumer ($mode)"; }
compiler=$(sed -n 's/^C++ compiler for the host machine: [^(]*(\([^ ]* [^ ]*\) .*/\1/p' setup.log | head -n 1)
ok "configured and built the consumer with smpboot as $mode, compiler $compiler"

# The headers must come from where this mode says, not from the source tree by accident.
grep -q -- "-I$expect_include" build-consumer/compile_commands.json \
  || fail "the consumer was not compiled with -I$expect_include"
if [ "$mode" = installed ] && grep -q -- "-I$src/include" build-consumer/compile_commands.json; then
  fail "the installed-mode consumer was compiled against the source tree"
fi
ok "compiled with -I$expect_include"

for exe in consumer-kernel-O0 consumer-kernel-O2; do
  bin=build-consumer/$exe
  [ -f "$bin" ] || fail "$bin was not built"
  undefined=$("$NM" -u "$bin")
  [ -z "$undefined" ] || fail "$exe has undefined symbols:
$undefined"
  ok "$exe: nm -u lists no undefined symbols" \
    "(no __cxa_*, _Unwind_*, operator new/delete, __stack_chk_fail, libgcc)"
  "$NM" "$bin" | grep -q ' T consumer_main$' || fail "$exe does not define consumer_main"
  # A static constructor would never run in a kernel without a C runtime to call it.
  if "$READELF" -S -W "$bin" | grep -E -q '\.(init_array|ctors|preinit_array)'; then
    fail "$exe has static constructors"
  fi
  ok "$exe: entry consumer_main, no static constructors"
done

# At -O0 every instantiated template keeps its own symbol: prove the protocol was compiled
# for both policies with the consumer's own Clock and Waiter, not just declared.
symbols=$("$NM" -C build-consumer/consumer-kernel-O0)
for want in \
  'smpboot::bring_up_aps<64u, smpboot::XApic<smpboot::x86_64::NativeMmio>, (anonymous namespace)::AssumedTscClock, (anonymous namespace)::PauseWaiter>' \
  'smpboot::bring_up_aps<64u, smpboot::X2Apic<smpboot::x86_64::NativeMsr>, (anonymous namespace)::AssumedTscClock, (anonymous namespace)::PauseWaiter>' \
  'smpboot::add_cpus_from_madt<64u>' \
  'smpboot::ap_entry<(anonymous namespace)::ConsumerAp>' \
  'smpboot::Madt::parse'; do
  printf '%s\n' "$symbols" | grep -F -q "$want" || fail "consumer-kernel-O0 has no $want"
  ok "instantiated: $want"
done
echo "PASS consumer-$mode"
