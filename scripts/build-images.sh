#!/usr/bin/env bash
# Builds the guest test images under images/src/ into images/build/ as
# <image>.elf and <image>.bin, or <image>-<board>.elf/.bin when one source
# is built for several boards; the AArch64 ones (A64_IMAGES) with Debian's
# aarch64-linux-gnu-gcc, their .bin an arm64 Image for --kernel. With
# arguments, builds only the images named.
# Safe to run repeatedly from any directory: the build is reproducible, and
# an output is only replaced when its bytes change, so timestamps stay put
# when nothing changed. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Work from ROOT with relative source names, so that the debug info is the
# same wherever the script is started from.
cd "$ROOT"
IMAGES_DIR="$ROOT/images"
OUT="$IMAGES_DIR/build"
CROSS="${CROSS:-arm-none-eabi-}"
CC="${CROSS}gcc"
OBJCOPY="${CROSS}objcopy"
AR="${CROSS}ar"

# image name, then the boards it is built for.
IMAGES=(
  "hello          an385 an386 sensor-node"
  "irq-nesting    an385"
  "context-switch an385"
  "fpu-context    an386"
  "faults         an385"
  "wfi-idle       an385"
  "cpu-bound      an385 sensor-node"
  "idle-bench     an385"
  "uart-echo      an385 sensor-node"
  "sleep-on-exit  an385"
  "net-ping       an385"
  "net-node       an385"
  "net-hub        an385"
  "net-beacon     an385"
  "net-stream-tx  an385"
  "net-stream-rx  an385"
  "radio-node     sensor-node"
  "accel-lis3dh   an386"
  "watch-face     watch"
  "speaker        speaker"
  "sensor-report  sensor-node"
  "audio-tone     speaker"
  "gfx-bench      watch"
  "home-phone     phone"
  "home-watch     watch"
  "home-speaker   speaker"
  "home-node      sensor-node"
)

# Bare-metal programs for the aarch64-virt board.
A64_IMAGES=(
  "a64-counter"
)
A64_CC="aarch64-linux-gnu-gcc"
A64_OBJCOPY="aarch64-linux-gnu-objcopy"

command -v "$CC" >/dev/null || { echo "build-images: $CC not found (run scripts/setup.sh)" >&2; exit 1; }

COMMON_FLAGS=(
  -O2 -g -std=gnu11 -Wall -Wextra
  -ffreestanding -nostartfiles -nodefaultlibs
  # Keep GCC from turning copy/clear loops into memcpy/memset calls (the
  # run-time's own memset would otherwise call itself).
  -fno-tree-loop-distribute-patterns
  -ffunction-sections -fdata-sections -Wl,--gc-sections -Wl,--fatal-warnings
  # Reproducible debug info: no absolute paths of this checkout.
  "-ffile-prefix-map=$ROOT=." "-Wa,--debug-prefix-map,$ROOT=."
  -I "$IMAGES_DIR/include" -L "$IMAGES_DIR/ld"
)

board_flags() {
  case "$1" in
    an385)       echo "-mcpu=cortex-m3 -mthumb -DBOARD_AN385 -T mps2.ld" ;;
    an386)       echo "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -DBOARD_AN386 -T mps2.ld" ;;
    sensor-node) echo "-mcpu=cortex-m3 -mthumb -DBOARD_SENSOR_NODE -T sensor-node.ld" ;;
    watch)       echo "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -DBOARD_WATCH -T mps2.ld" ;;
    speaker)     echo "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -DBOARD_SPEAKER -T mps2.ld" ;;
    phone)       echo "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard -DBOARD_PHONE -T mps2.ld" ;;
    *) echo "build-images: unknown board $1" >&2; return 1 ;;
  esac
}

# Replace dst with src only if the contents differ.
install_if_changed() {
  if cmp -s "$1" "$2"; then rm -f "$1"; else mv -f "$1" "$2"; fi
}

mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

for wanted in "$@"; do
  printf '%s \n' "${IMAGES[@]}" "${A64_IMAGES[@]}" | grep -q "^$wanted " || { echo "build-images: no image '$wanted'" >&2; exit 1; }
done

for entry in "${IMAGES[@]}"; do
  read -r name boards <<<"$entry"
  if (($#)) && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  shopt -s nullglob
  sources=(images/lib/*.c "images/src/$name"/*.c "images/src/$name"/*.S)
  shopt -u nullglob
  [ -f "images/src/$name/main.c" ] || { echo "build-images: images/src/$name/main.c missing" >&2; exit 1; }

  read -ra board_list <<<"$boards"
  for board in "${board_list[@]}"; do
    if ((${#board_list[@]} > 1)); then out="$name-$board"; else out="$name"; fi
    flag_string="$(board_flags "$board")"
    read -ra flags <<<"$flag_string"
    # One object per source, with a stable name: an assembler source has no
    # .file directive, so the linker names its symbol-table FILE entry after
    # the object, which would otherwise be a random temporary file.
    objs=()
    mkdir -p "$TMP/$out"
    for src in "${sources[@]}"; do
      obj="$TMP/$out/$(basename "$(dirname "$src")")-$(basename "$src").o"
      "$CC" "${COMMON_FLAGS[@]}" "${flags[@]}" -c -o "$obj" "$src"
      objs+=("$obj")
    done
    # images/lib/net/ (the network stack) is linked as an archive, so an
    # image gets only the members it uses: images without networking are
    # unchanged, and the stack's SysTick and IRQ 13 handlers never clash
    # with an image's own.
    net_objs=()
    for src in images/lib/net/*.c; do
      obj="$TMP/$out/net-$(basename "$src").o"
      "$CC" "${COMMON_FLAGS[@]}" "${flags[@]}" -c -o "$obj" "$src"
      net_objs+=("$obj")
    done
    rm -f "$TMP/$out/libnet.a"
    "$AR" rcsD "$TMP/$out/libnet.a" "${net_objs[@]}"
    "$CC" "${COMMON_FLAGS[@]}" "${flags[@]}" -o "$TMP/$out.elf" "${objs[@]}" "$TMP/$out/libnet.a" -lgcc
    "$OBJCOPY" -O binary "$TMP/$out.elf" "$TMP/$out.bin"
    install_if_changed "$TMP/$out.elf" "$OUT/$out.elf"
    install_if_changed "$TMP/$out.bin" "$OUT/$out.bin"
    echo "built images/build/$out.elf ($board)"
  done
done

A64_FLAGS=(
  -O2 -g -std=gnu11 -Wall -Wextra
  -ffreestanding -nostdlib -static -fno-pie -no-pie
  -fno-stack-protector -fno-asynchronous-unwind-tables
  # The MMU is off: all data accesses are to Device memory, which must be
  # aligned; no FP/SIMD in the C code (the tests set SIMD registers).
  -mstrict-align -mgeneral-regs-only
  -ffunction-sections -fdata-sections -Wl,--gc-sections -Wl,--fatal-warnings
  # One image in RAM, code and data together.
  -Wl,--build-id=none -Wl,--no-warn-rwx-segments
  "-ffile-prefix-map=$ROOT=." "-Wa,--debug-prefix-map,$ROOT=."
  -T "$IMAGES_DIR/ld/aarch64-virt.ld"
)

for name in "${A64_IMAGES[@]}"; do
  if (($#)) && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  command -v "$A64_CC" >/dev/null || { echo "build-images: $A64_CC not found (run scripts/setup.sh)" >&2; exit 1; }
  shopt -s nullglob
  sources=("images/src/$name"/*.S "images/src/$name"/*.c)
  shopt -u nullglob
  objs=()
  mkdir -p "$TMP/$name"
  for src in "${sources[@]}"; do
    obj="$TMP/$name/$name-$(basename "$src").o"
    "$A64_CC" "${A64_FLAGS[@]}" -c -o "$obj" "$src"
    objs+=("$obj")
  done
  "$A64_CC" "${A64_FLAGS[@]}" -o "$TMP/$name.elf" "${objs[@]}" -lgcc
  "$A64_OBJCOPY" -O binary "$TMP/$name.elf" "$TMP/$name.bin"
  install_if_changed "$TMP/$name.elf" "$OUT/$name.elf"
  install_if_changed "$TMP/$name.bin" "$OUT/$name.bin"
  echo "built images/build/$name.elf (aarch64-virt)"
done
