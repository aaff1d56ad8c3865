#!/usr/bin/env bash
# QEMU reference runs of the arm64 guest inputs (scripts/fetch-arm64.sh,
# scripts/build-initramfs.sh) on QEMU's `virt` machine, the board the
# aarch64-virt board copies. Each run's console goes to DEST/qemu-<run>.txt
# and its wall time to DEST/qemu-timings.txt; exits 1 if a run fails.
#
# Usage: images/linux/qemu-ref.sh [DEST]      (default target/arm64)
#
#   linux        -kernel Image -initrd initramfs: reaches the marker, powers off
#   linux-net    the same with a virtio-mmio NIC on QEMU's user network and
#                ensemble.ip=10.0.2.15/24: the modules load, eth0 comes up
#   uboot        -bios u-boot.bin: stop autoboot, `version`, `bdinfo`, `poweroff`
#   uboot-linux  U-Boot boots the same Image and initramfs (put in RAM by
#                QEMU's loader device) with booti
#   disco        (when images/build/net-hub.elf exists) the MCU net-hub image
#                and Linux running disco-listen on one Ethernet segment
#                (QEMU multicast sockets on loopback): each lists the other
#
# Also writes DEST/qemu-virt.dts, the device tree QEMU gives the guest.
# QEMU gets -nic none: its default NIC is a PCI one that needs ipxe-qemu's
# efi-virtio.rom, and the Ensemble board has only virtio-mmio.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${1:-$ROOT/target/arm64}
LIMIT=120                     # seconds any one QEMU may run
MARKER=ENSEMBLE-LINUX-INIT-OK

"$ROOT/scripts/build-initramfs.sh" "$DEST"
IMAGE=$DEST/Image
INITRD=$DEST/initramfs.cpio.gz
QEMU=(qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512 -nographic -nic none)

"${QEMU[@]}" -machine dumpdtb="$DEST/qemu-virt.dtb" >/dev/null 2>&1
dtc -q -I dtb -O dts -o "$DEST/qemu-virt.dts" "$DEST/qemu-virt.dtb"
rm "$DEST/qemu-virt.dtb"

# ---- a minimal expect: QEMU's console input is a fifo we write to, its
# output a log that expect() scans from where the last match ended ----
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
start() { # run-name qemu-args...
  RUN=$1
  shift
  LOG=$DEST/qemu-$RUN.txt
  rm -f "$TMP/in"
  mkfifo "$TMP/in"
  exec 3<>"$TMP/in"
  T0=$EPOCHREALTIME
  MARK_AT=-
  POS=0
  timeout "$LIMIT" "${QEMU[@]}" "$@" <"$TMP/in" >"$LOG" 2>&1 &
  PID=$!
}
since() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
expect() { # fixed-string [log]: wait until it appears (QEMU's timeout bounds the wait)
  local log=${2:-$LOG} hit
  while :; do
    hit=$(tail -c +$((POS + 1)) "$log" | grep -boaF -m1 -- "$1" | sed -n '1s/:.*//p' || true)
    if [ -n "$hit" ]; then
      POS=$((POS + hit + ${#1}))
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || { echo "qemu-ref: $RUN: QEMU ended before '$1'" >&2; return 1; }
    sleep 0.05
  done
}
send() { printf '%s' "$1" >&3; }
FAILED=0
finish() { # marker-name: wait for QEMU to exit, record the time and status
  local rc=0
  wait "$PID" || rc=$?
  exec 3>&-
  local t
  t=$(since)
  local line
  line=$(printf '%-12s %-24s at %5s s, exit %d after %5s s' "$RUN" "$1" "$MARK_AT" "$rc" "$t")
  echo "qemu-ref: $line"
  echo "$line" >>"$DEST/qemu-timings.txt"
  [ "$rc" = 0 ] && [ "$MARK_AT" != - ] || FAILED=1
}
# expect() that records when the run's marker appeared
expect_mark() { if expect "$@"; then MARK_AT=$(since); fi; }

: >"$DEST/qemu-timings.txt"

start linux -kernel "$IMAGE" -initrd "$INITRD" -append "console=ttyAMA0"
expect_mark "$MARKER" || true
finish "$MARKER"

start linux-net -kernel "$IMAGE" -initrd "$INITRD" \
  -device virtio-net-device,netdev=n0 -netdev user,id=n0,restrict=on \
  -append "console=ttyAMA0 ensemble.ip=10.0.2.15/24 ensemble.run=ping,-c,1,10.0.2.2"
expect_mark "ip ready 10.0.2.15" || true
finish "ip ready 10.0.2.15"

start uboot -bios "$DEST/u-boot.bin"
{
  expect "Hit any key to stop autoboot" && send $'\r' &&
    expect "=> " && send $'version\r' &&
    expect "=> " && send $'bdinfo\r' &&
    expect "=> " && MARK_AT=$(since) && send $'poweroff\r'
} || true
finish "=> (bdinfo done)"

# The kernel gets the device tree U-Boot runs on (${fdtcontroladdr}, for
# U-Boot to expand), which is QEMU's, as on a real board.
# shellcheck disable=SC2016
BOOTI=$(printf 'booti 0x40400000 0x48000000:0x%x ${fdtcontroladdr}' "$(stat -c %s "$INITRD")")
start uboot-linux -bios "$DEST/u-boot.bin" \
  -device loader,file="$IMAGE",addr=0x40400000,force-raw=on \
  -device loader,file="$INITRD",addr=0x48000000,force-raw=on
{
  expect "Hit any key to stop autoboot" && send $'\r' &&
    expect "=> " && send $'setenv bootargs console=ttyAMA0\r' &&
    expect "=> " && send "$BOOTI"$'\r' &&
    expect_mark "$MARKER"
} || true
finish "$MARKER"

HUB_ELF=$ROOT/images/build/net-hub.elf
if [ -f "$HUB_ELF" ]; then
  # One segment: every QEMU joins the same multicast group on loopback
  # (a port of our own, so parallel runs do not meet). The hub is device 0
  # (10.0.0.1), Linux device 5 (10.0.0.6, linux-5).
  NET="socket,id=n0,mcast=230.0.0.1:$((47100 + $$ % 800)),localaddr=127.0.0.1"
  HUB_LOG=$DEST/qemu-disco-hub.txt
  timeout "$LIMIT" qemu-system-arm -M mps2-an385 -nographic -kernel "$HUB_ELF" \
    -netdev "$NET" -net nic,netdev=n0,macaddr=52:54:00:12:34:00 </dev/null >"$HUB_LOG" 2>&1 &
  HUB=$!
  start disco-linux -kernel "$IMAGE" -initrd "$INITRD" \
    -device virtio-net-device,netdev=n0,mac=52:54:00:12:34:05 -netdev "$NET" \
    -append "console=ttyAMA0 quiet ensemble.ip=10.0.0.6/24 ensemble.run=disco-listen,3,30"
  if expect "disco-listen: 3 datagrams" && grep -q "from 10.0.0.1:5684 .*name=hub-0;kind=hub" "$LOG"; then
    MARK_AT=$(since)
  fi
  finish "hub-0 heard"
  # The hub lists linux-5, drops it 3 s after its last announcement, and
  # then, with no peer left, prints "net-hub: done" and halts.
  RUN=disco-hub POS=0 PID=$HUB
  expect "net-hub: done" "$HUB_LOG" || true
  kill "$HUB" 2>/dev/null || true
  wait "$HUB" 2>/dev/null || true
  if grep -q "linux-5 joined (10.0.0.6, kind=linux, caps=shell)" "$HUB_LOG"; then
    echo "qemu-ref: disco-hub    linux-5 joined the hub's peer table"
  else
    echo "qemu-ref: disco-hub    the hub never listed linux-5 (see $HUB_LOG)"
    FAILED=1
  fi
else
  echo "qemu-ref: disco        skipped: no $HUB_ELF (scripts/build-images.sh builds it)"
fi

exit "$FAILED"
