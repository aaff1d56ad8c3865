#!/usr/bin/env bash
# Window benchmark (part of scripts/bench.sh): does presenting frames slow
# the emulation? Runs images/build/gfx-bench.elf (draws 30 frames per
# virtual second at 90% CPU on the watch profile) for 10 s of virtual time
# headless and in a window on a virtual X server (Xvfb, --max-speed, no
# sound), RUNS times each, taking turns, and prints the best wall time of
# the emulation (Ensemble's --stats, from the machine's start: the
# window's own start-up runs alongside on the main thread) and the ratio.
# Skips with a message when Xvfb is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
IMAGE=images/build/gfx-bench.elf
command -v Xvfb >/dev/null || { echo "window bench: Xvfb not installed (scripts/setup.sh), skipped"; exit 0; }
[ -f "$IMAGE" ] || ./scripts/build-images.sh gfx-bench >/dev/null
cargo build --release --quiet -p ensemble

TMP="$(mktemp -d)"
display=$((200 + $$ % 300))
while [ -e "/tmp/.X11-unix/X$display" ]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1280x1024x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$display" ] && break; sleep 0.1; done
mkdir -p "$TMP/xdg" && chmod 700 "$TMP/xdg"

# one MODE: prints the emulation's wall seconds for 10 s of virtual time.
one() {
  local args=(run --board watch --image "$IMAGE" --time-limit 20s --expect "frames in" --no-input --stats)
  if [ "$1" = window ]; then
    LP_NUM_THREADS=1 DISPLAY=":$display" XDG_RUNTIME_DIR="$TMP/xdg" ./target/release/ensemble "${args[@]}" --max-speed --mute >"$TMP/out" 2>"$TMP/err"
  else
    ./target/release/ensemble "${args[@]}" --headless >"$TMP/out" 2>"$TMP/err"
  fi
  grep -q "frames in 10 s" "$TMP/out" || { echo "window bench: $1 run failed:" >&2; cat "$TMP/err" >&2; exit 1; }
  sed -n 's/.*wall time \([0-9.]*\)s.*/\1/p' "$TMP/err"
}

best_h=999; best_w=999
for _ in $(seq "$RUNS"); do
  h=$(one headless); w=$(one window)
  best_h=$(awk -v a="$best_h" -v b="$h" 'BEGIN { print (b < a) ? b : a }')
  best_w=$(awk -v a="$best_w" -v b="$w" 'BEGIN { print (b < a) ? b : a }')
done
ratio=$(awk -v w="$best_w" -v h="$best_h" 'BEGIN { printf "%.3f", w / h }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.10) ? "met" : "MISSED" }')
echo "window: gfx-bench 10 s virtual: headless ${best_h} s, window ${best_w} s, window/headless ${ratio} (target <= 1.10: ${verdict})"
