#!/usr/bin/env bash
# Benchmark: Debian's arm64 kernel from start to the initramfs marker
# (ENSEMBLE-LINUX-INIT-OK), Ensemble's aarch64-virt side by side with
# `qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512` on the same kernel
# and initramfs. Best of RUNS (default 3) wall seconds each, their ratio,
# and Ensemble's breakdown (exceptions, page faults, IRQs, device accesses).
#   RUNS=5 ./scripts/bench-linux.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
A=target/arm64
[ -f "$A/Image" ] || ./scripts/fetch-arm64.sh >/dev/null
[ -f "$A/initramfs.cpio.gz" ] || ./scripts/build-initramfs.sh >/dev/null
cargo build --release --quiet
MARK=ENSEMBLE-LINUX-INIT-OK

now() { date +%s.%N; }

# Wall seconds until the marker appears on the command's stdout.
time_to_marker() {
  local start end
  start=$(now)
  # grep -m1 exits at the marker; the guest is then stopped.
  "$@" 2>/dev/null | grep -m1 -q "$MARK" || true
  end=$(now)
  echo "$end - $start" | bc -l
}

best() { sort -g | head -1; }

ens=() qemu=()
for _ in $(seq "$RUNS"); do
  ens+=("$(time_to_marker ./target/release/ensemble run --board aarch64-virt \
    --kernel "$A/Image" --initrd "$A/initramfs.cpio.gz" --append console=ttyAMA0 \
    --no-input --expect "$MARK")")
  qemu+=("$(time_to_marker timeout 120 qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512 \
    -nographic -nic none -kernel "$A/Image" -initrd "$A/initramfs.cpio.gz" \
    -append console=ttyAMA0)")
  pkill -f "qemu-system-aarch64 -M virt" 2>/dev/null || true
done
e=$(printf '%s\n' "${ens[@]}" | best)
q=$(printf '%s\n' "${qemu[@]}" | best)
printf 'linux-boot: to %s  ensemble %.2f s  qemu %.2f s  ratio %.2f  (best of %s; goal <= 3)\n' \
  "$MARK" "$e" "$q" "$(echo "$e / $q" | bc -l)" "$RUNS"
# The breakdown, from a full run to power-off.
./target/release/ensemble run --board aarch64-virt --kernel "$A/Image" \
  --initrd "$A/initramfs.cpio.gz" --append console=ttyAMA0 --no-input --stats 2>&1 >/dev/null |
  grep '^ensemble: \(virtual time\|exceptions\)' | sed 's/^ensemble: /linux-boot: /'
