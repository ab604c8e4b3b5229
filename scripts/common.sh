# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, configure, build.
# Sourced, not run. Works as root on a fresh Debian 12 (uses sudo when not root).

SMPBOOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMPBOOT_BUILD=${SMPBOOT_BUILD:-$SMPBOOT_ROOT/build}

# Everything the build, the tests and the emulator boots need, all from Debian 12.
SMPBOOT_PACKAGES=(
  meson ninja-build pkg-config g++ clang lld libclang-rt-14-dev nasm doctest-dev catch2
  qemu-system-x86 bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools
  ovmf grub-efi-amd64-bin
)

smpboot_install_packages() {
  local missing=() p
  for p in "${SMPBOOT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "smpboot: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

smpboot_build() {
  if [ -f "$SMPBOOT_BUILD/build.ninja" ]; then
    meson setup --reconfigure "$SMPBOOT_BUILD" "$SMPBOOT_ROOT" "$@" >/dev/null
  else
    meson setup "$SMPBOOT_BUILD" "$SMPBOOT_ROOT" "$@"
  fi
  ninja -C "$SMPBOOT_BUILD"
}
