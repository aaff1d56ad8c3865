#!/usr/bin/env bash
# Installs, idempotently and quietly, every system package the build, the
# guest images and the tests need. Safe to run again: it does nothing when
# everything is present.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config cmake libclang-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi
  qemu-system-arm
  gdb-multiarch
  libasound2-dev
  xvfb mesa-vulkan-drivers libvulkan1 x11-apps netpbm
  cpio kmod gcc-aarch64-linux-gnu libc6-dev-arm64-cross device-tree-compiler
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
