#!/usr/bin/env bash
# Performance benchmark. Runs a CPU-bound image on Ensemble, on a bare
# Unicorn harness (the same engine with no machinery: RAM, a UART write
# sink, no hooks) and on QEMU (plain and -icount), then an idle-heavy image
# on Ensemble, and prints the times and ratios. Each figure is the best of
# RUNS (default 3) runs, the runners taking turns: wall time from launch to
# the image's "done" line, and CPU time. Exits 0 even if a target is missed
# (it is a report); non-zero only if something failed to run. Figures and
# findings: BENCHMARKS.md.
#
#   ./scripts/bench.sh            # RUNS=5 ./scripts/bench.sh for more runs
#   ./scripts/bench.sh scale      # only the scenario of 64 devices
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
CPU_IMAGE=images/build/cpu-bound-an385.elf
IDLE_IMAGE=images/build/idle-bench.elf
GUARD=600 # seconds: a runner that has not printed its done line by then failed

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

verdict() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? v <= t : v >= t; print ok ? "met" : "MISSED" }'; }

# Scenario scale: 64 idle-heavy networked devices in one process, on 1 and
# 2 worker threads; virtual seconds per wall second, CPU time and peak
# memory of the fastest of RUNS runs, with the load average before them (a
# shared machine's other work shows there). Each net-beacon announces
# itself once a second and hears the 63 others; it sleeps between frames
# and whatever is due next, with no periodic tick, so the cost is reported
# per device and virtual second rather than per wake.
scale_bench() {
  local SCALE=images/scenarios/beacons64.toml threads best best_line i
  echo
  echo "Scenario of 64 devices ($SCALE, 20 s virtual):"
  for threads in 1 2; do
    echo "  load average before the $threads-thread runs: $(cut -d' ' -f1-3 /proc/loadavg)"
    best="" best_line=""
    for ((i = 0; i < RUNS; i++)); do
      /usr/bin/time -f "%e %U %S %M" -o "$TMP/scale" target/release/ensemble scenario "$SCALE" \
        --headless --quiet --threads "$threads" >/dev/null 2>&1 || true
      read -r wall user sys rss < <(tail -n 1 "$TMP/scale")
      echo "bench: scale, $threads thread(s), run $((i + 1)) of $RUNS: ${wall}s wall, ${user}s user, ${sys}s system, $((rss / 1024)) MiB" >&2
      if [ -z "$best" ] || awk -v t="$wall" -v b="$best" 'BEGIN { exit !(t < b) }'; then
        best=$wall best_line="$wall $user $sys $rss"
      fi
    done
    read -r wall user sys rss <<<"$best_line"
    printf '  %s thread(s): %6ss wall, %sx real time, CPU %ss, %s us per device and virtual second, peak memory %s MiB   target >= 10x: %s\n' \
      "$threads" "$wall" "$(awk -v w="$wall" 'BEGIN { printf "%.1f", 20 / w }')" \
      "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" \
      "$(awk -v w="$wall" 'BEGIN { printf "%.0f", w * 1e6 / (64 * 20) }')" "$((rss / 1024))" \
      "$(verdict "$(awk -v w="$wall" 'BEGIN { print 20 / w }')" ">=" 10)"
  done
}
# `./scripts/bench.sh scale`: only the scenario of 64 devices (no set-up,
# no QEMU), with the images and the binary of this tree.
if [ "${1:-}" = scale ]; then
  ./scripts/build-images.sh net-beacon >/dev/null
  cargo build --release --quiet -p ensemble
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); best of $RUNS runs"
  scale_bench
  exit 0
fi

./scripts/setup.sh
./scripts/build-images.sh cpu-bound idle-bench net-beacon >/dev/null
cargo build --release --quiet -p ensemble -p ensemble-bench
for f in "$CPU_IMAGE" "$IDLE_IMAGE"; do
  [ -f "$f" ] || { echo "bench: $f was not built" >&2; exit 1; }
done

# time_to_line PATTERN CMD...: run CMD (stdin from /dev/null, stdout
# through a fifo, stderr to $TMP/stderr), print the wall seconds from
# launch to the first stdout line containing PATTERN, and the CPU seconds
# (user + system) CMD used in all. CMD is then left to exit by itself if it
# does so promptly (its exit status must be 0), or killed (QEMU never
# exits: the image sleeps at the end). Fails if the line never comes.
time_to_line() {
  local pat=$1 t0 t1="" line pid rc=0 i
  shift
  rm -f "$TMP/fifo" && mkfifo "$TMP/fifo"
  # `times` (a builtin, so not in a subshell) gives the CPU time of the
  # children this shell has waited for.
  times >"$TMP/times0"
  t0=$EPOCHREALTIME
  timeout "$GUARD" "$@" </dev/null >"$TMP/fifo" 2>"$TMP/stderr" &
  pid=$!
  # Keep the fifo open until the runner is gone, so that it never writes
  # to a closed pipe.
  exec 3<"$TMP/fifo"
  : >"$TMP/stdout"
  while IFS= read -r line <&3 || [ -n "$line" ]; do
    printf '%s\n' "$line" >>"$TMP/stdout"
    if [[ $line == *"$pat"* ]]; then
      t1=$EPOCHREALTIME
      break
    fi
  done
  # Give a runner that ends by itself a moment to do so, then stop it.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    wait "$pid" || rc=$?
  fi
  times >"$TMP/times1"
  cat <&3 >>"$TMP/stdout"
  exec 3<&-
  if [ -z "$t1" ] || [ "$rc" -ne 0 ]; then
    echo "bench: '$*' failed (exit $rc) before printing '$pat'; its output:" >&2
    cat "$TMP/stdout" "$TMP/stderr" >&2
    return 1
  fi
  awk -v a="$t0" -v b="$t1" '
    FNR == 2 { split($0, f, /[ms]+/); cpu[FILENAME] = f[1] * 60 + f[2] + f[3] * 60 + f[4] }
    END { printf "%.3f %.3f\n", b - a, cpu[ARGV[2]] - cpu[ARGV[1]] }' "$TMP/times0" "$TMP/times1"
}

# measure NAME PATTERN CMD...: one run; keeps the best wall and CPU times
# of NAME in BEST[NAME] and CPU[NAME].
declare -A BEST CPU
measure() {
  local name=$1 pat=$2 r t c
  shift 2
  r=$(time_to_line "$pat" "$@")
  read -r t c <<<"$r"
  echo "bench: $name: ${t}s wall, ${c}s CPU" >&2
  if [ -z "${BEST[$name]:-}" ] || awk -v t="$t" -v b="${BEST[$name]}" 'BEGIN { exit !(t < b) }'; then BEST[$name]=$t; fi
  if [ -z "${CPU[$name]:-}" ] || awk -v t="$c" -v b="${CPU[$name]}" 'BEGIN { exit !(t < b) }'; then CPU[$name]=$c; fi
}

ENSEMBLE=(target/release/ensemble run --board mps2-an385 --no-input)
QEMU=(qemu-system-arm -M mps2-an385 -nographic -monitor none -serial stdio)

# Runners take turns, so that a busy spell of the machine does not land on
# one runner only.
for ((i = 1; i <= RUNS; i++)); do
  echo "bench: round $i of $RUNS" >&2
  measure ensemble "cpu-bound: done" "${ENSEMBLE[@]}" --image "$CPU_IMAGE" --expect 'cpu-bound: done' --stats
  # Guest work, from Ensemble's --stats: ticks are halfwords of code executed.
  TICKS=$(sed -n 's/.*virtual time .* (\([0-9]*\) ticks).*/\1/p' "$TMP/stderr")
  measure bare "cpu-bound: done" target/release/bare-unicorn "$CPU_IMAGE" "$GUARD"
  measure qemu "cpu-bound: done" "${QEMU[@]}" -kernel "$CPU_IMAGE"
  measure qemu-icount "cpu-bound: done" "${QEMU[@]}" -icount shift=0,sleep=off -kernel "$CPU_IMAGE"
done

# Idle: virtual seconds per wall second, as Ensemble's --stats reports them.
IDLE_BEST=""
for ((i = 0; i < RUNS; i++)); do
  time_to_line "idle-bench: done" "${ENSEMBLE[@]}" --image "$IDLE_IMAGE" --expect 'idle-bench: done' --stats >/dev/null
  read -r virt wall < <(sed -n 's/.*virtual time \([0-9.]*\)s .*wall time \([0-9.]*\)s.*/\1 \2/p' "$TMP/stderr")
  [ -n "${virt:-}" ] || { echo "bench: no --stats line from the idle run" >&2; cat "$TMP/stderr" >&2; exit 1; }
  speed=$(awk -v v="$virt" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0 ? v / w : 1e9) }')
  echo "bench: idle run $((i + 1)) of $RUNS: ${virt}s virtual in ${wall}s wall (${speed}x)" >&2
  if [ -z "$IDLE_BEST" ] || awk -v t="$speed" -v b="$IDLE_BEST" 'BEGIN { exit !(t > b) }'; then
    IDLE_BEST=$speed IDLE_VIRT=$virt IDLE_WALL=$wall
  fi
done

# ratio A B [DECIMALS]
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, a / b }'; }
E=${BEST[ensemble]} B=${BEST[bare]} Q=${BEST[qemu]} QI=${BEST[qemu-icount]}
EB=$(ratio "$E" "$B" 3)

echo
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg); best of $RUNS runs"
echo
echo "CPU-bound image ($CPU_IMAGE):"
printf '  %-34s %10s %10s\n' "runner" "wall (s)" "CPU (s)"
for n in ensemble bare qemu qemu-icount; do
  case $n in
    ensemble) label="ensemble" ;;
    bare) label="bare-unicorn (no hooks)" ;;
    qemu) label="qemu-system-arm" ;;
    qemu-icount) label="qemu-system-arm -icount shift=0" ;;
  esac
  printf '  %-34s %10s %10s\n' "$label" "${BEST[$n]}" "${CPU[$n]}"
done
echo "  (wall: launch to the 'done' line; CPU: user + system of the whole process, QEMU's startup and threads included)"
if [ -n "$TICKS" ]; then
  printf '  guest work: %s ticks (halfwords of code executed): ensemble %s M/s, bare-unicorn %s M/s\n' "$TICKS" \
    "$(awk -v t="$TICKS" -v s="$E" 'BEGIN { printf "%.0f", t / s / 1e6 }')" \
    "$(awk -v t="$TICKS" -v s="$B" 'BEGIN { printf "%.0f", t / s / 1e6 }')"
fi
echo
echo "Ratios (wall):"
printf '  %-34s %8s   target <= 1.15: %s\n' "ensemble / bare-unicorn" "$EB" "$(verdict "$EB" "<=" 1.15)"
printf '  %-34s %8s\n' "ensemble / bare-unicorn (CPU time)" "$(ratio "${CPU[ensemble]}" "${CPU[bare]}" 3)" \
  "ensemble / qemu" "$(ratio "$E" "$Q")" \
  "ensemble / qemu -icount" "$(ratio "$E" "$QI")" \
  "bare-unicorn / qemu" "$(ratio "$B" "$Q")" \
  "bare-unicorn / qemu -icount" "$(ratio "$B" "$QI")"
echo
echo "Idle-heavy image ($IDLE_IMAGE) on ensemble:"
printf '  %ss virtual in %ss wall: %sx real time   target >= 50x: %s\n' \
  "$IDLE_VIRT" "$IDLE_WALL" "$IDLE_BEST" "$(verdict "$IDLE_BEST" ">=" 50)"

scale_bench

# Streaming: two devices on a 100 Mbit/s switch, net-stream-tx sending
# 1024-byte UDP datagrams back to back for 5 s of virtual time and
# net-stream-rx counting them (images/scenarios/stream2.toml), against the
# 1-device baseline stream1.toml (the same sender alone, streaming to the
# subnet broadcast, which the switch carries to nobody), each on 1 and 2
# worker threads. Two references: one device idle on the switch for the
# same virtual time (a scenario written here: what the lockstep machinery
# costs with no guest work), and the sender under `ensemble run` (no
# scenario at all; it streams from t = 3 s to 8 s after ARP gives up).
# Throughput is read from the receiver's UART log (--artifacts); it is in
# virtual time, so the same on every run and with any --threads.
./scripts/build-images.sh net-stream-tx net-stream-rx >/dev/null
STREAM1=images/scenarios/stream1.toml
STREAM2=images/scenarios/stream2.toml
cat >"$TMP/idle1.toml" <<EOF
name = "idle1"
seed = 1
time_limit = "20s"
[[device]]
name = "rx"
board = "mps2-an385"
image = "$PWD/images/build/net-stream-rx.elf"
[[network]]
name = "lan"
kind = "switch"
members = ["rx"]
latency = "1ms"
bandwidth = "100Mbit"
[[step]]
delay = "8s"
EOF

# stream_run KEY THREADS SCENARIO: one timed run (artifacts to
# $TMP/art-KEY); keeps the best wall time in SBEST[KEY], the virtual time
# in SVIRT[KEY] and the peak memory in SRSS[KEY].
declare -A SBEST SVIRT SRSS
stream_run() {
  local key=$1 threads=$2 file=$3 wall rss virt rc=0
  rm -rf "$TMP/art-$key" && mkdir -p "$TMP/art-$key"
  /usr/bin/time -f "%e %M" -o "$TMP/stream.time" target/release/ensemble scenario "$file" \
    --quiet --threads "$threads" --artifacts "$TMP/art-$key" >/dev/null 2>"$TMP/stream.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bench: scenario $file (--threads $threads) failed (exit $rc):" >&2
    cat "$TMP/stream.err" >&2
    exit 1
  fi
  read -r wall rss < <(tail -n 1 "$TMP/stream.time")
  virt=$(sed -n 's/.* passed at t=\([0-9.]*\)s.*/\1/p' "$TMP/stream.err")
  echo "bench: $key: ${virt}s virtual in ${wall}s wall" >&2
  if [ -z "${SBEST[$key]:-}" ] || awk -v t="$wall" -v b="${SBEST[$key]}" 'BEGIN { exit !(t < b) }'; then
    SBEST[$key]=$wall SVIRT[$key]=$virt SRSS[$key]=$rss
  fi
}

for ((i = 1; i <= RUNS; i++)); do
  echo "bench: streaming, round $i of $RUNS" >&2
  for threads in 1 2; do
    stream_run "idle-t$threads" "$threads" "$TMP/idle1.toml"
    stream_run "stream1-t$threads" "$threads" "$STREAM1"
    stream_run "stream2-t$threads" "$threads" "$STREAM2"
  done
  /usr/bin/time -f "%e %M" -o "$TMP/stream.time" target/release/ensemble run \
    --image images/build/net-stream-tx.elf --no-input --stats --expect 'net-stream-tx: done' \
    >/dev/null 2>"$TMP/stream.err" || { echo "bench: net-stream-tx under run failed:" >&2; cat "$TMP/stream.err" >&2; exit 1; }
  read -r wall rss < <(tail -n 1 "$TMP/stream.time")
  virt=$(sed -n 's/.*virtual time \([0-9.]*\)s .*/\1/p' "$TMP/stream.err")
  echo "bench: tx under run: ${virt}s virtual in ${wall}s wall" >&2
  if [ -z "${SBEST[run]:-}" ] || awk -v t="$wall" -v b="${SBEST[run]}" 'BEGIN { exit !(t < b) }'; then
    SBEST[run]=$wall SVIRT[run]=$virt SRSS[run]=$rss
  fi
done

# The receiver's totals (virtual time): "total N datagrams, M bytes in S ms
# (first at ...), L missing, ..., D dropped by the LAN9118" and "busy B%".
RXLOG=$TMP/art-stream2-t1/rx.uart.txt
read -r RX_N RX_BYTES RX_MS RX_LOST RX_DROPS < <(tr -d '\r' <"$RXLOG" | sed -n \
  's/^net-stream-rx: total \([0-9]*\) datagrams, \([0-9]*\) bytes in \([0-9]*\) ms.*, \([0-9]*\) missing, .*, \([0-9]*\) dropped by the LAN9118$/\1 \2 \3 \4 \5/p') || true
RX_BUSY=$(tr -d '\r' <"$RXLOG" | sed -n 's/^net-stream-rx: .*busy \([0-9.]*\)%$/\1/p')
TX_N=$(tr -d '\r' <"$TMP/art-stream2-t1/tx.uart.txt" | sed -n 's/^net-stream-tx: sent \([0-9]*\) datagrams.*/\1/p')
TX1_N=$(tr -d '\r' <"$TMP/art-stream1-t1/tx.uart.txt" | sed -n 's/^net-stream-tx: sent \([0-9]*\) datagrams.*/\1/p')
[ -n "${RX_N:-}" ] && [ -n "$TX_N" ] || { echo "bench: no totals in the stream logs" >&2; cat "$RXLOG" >&2; exit 1; }
cmp -s "$RXLOG" "$TMP/art-stream2-t2/rx.uart.txt" || echo "bench: WARNING: the receiver's log differs between 1 and 2 threads" >&2
# per_virt KEY: wall seconds per virtual second.
per_virt() { awk -v w="${SBEST[$1]}" -v v="${SVIRT[$1]}" 'BEGIN { printf "%.3f", w / v }'; }

echo
echo "Streaming UDP, 1024-byte datagrams over a 100 Mbit/s switch ($STREAM2 vs $STREAM1):"
printf '  received %s datagrams (%s bytes) in %s ms of virtual time: %s datagrams/s, %s Mbit/s of payload\n' \
  "$RX_N" "$RX_BYTES" "$RX_MS" \
  "$(awk -v n="$RX_N" -v t="$RX_MS" 'BEGIN { printf "%.0f", n * 1000 / t }')" \
  "$(awk -v b="$RX_BYTES" -v t="$RX_MS" 'BEGIN { printf "%.2f", b * 8 / t / 1000 }')"
printf '  sender sent %s (alone: %s), %s missing at the receiver, %s dropped by its LAN9118; receiver busy %s%%\n' \
  "$TX_N" "$TX1_N" "$RX_LOST" "$RX_DROPS" "$RX_BUSY"
printf '  %-40s %8s %12s %10s %18s %12s\n' "run" "threads" "virtual (s)" "wall (s)" "wall s / virtual s" "peak memory"
for key in idle-t1 stream1-t1 stream2-t1 idle-t2 stream1-t2 stream2-t2 run; do
  case $key in
    idle-*) label="1 device idle (rx alone, no sender)" ;;
    stream1-*) label="1 device streaming (stream1)" ;;
    stream2-*) label="2 devices streaming (stream2)" ;;
    run) label="sender alone under 'ensemble run'" ;;
  esac
  threads=${key##*-t}
  [ "$key" = run ] && threads=-
  printf '  %-40s %8s %12s %10s %18s %8s MiB\n' "$label" "$threads" "${SVIRT[$key]}" "${SBEST[$key]}" \
    "$(per_virt "$key")" "$((SRSS[$key] / 1024))"
done
for threads in 1 2; do
  printf '  slowdown, 2 devices / 1 device streaming, %s thread(s): %s (wall per virtual second)\n' "$threads" \
    "$(awk -v a="$(per_virt "stream2-t$threads")" -v b="$(per_virt "stream1-t$threads")" 'BEGIN { printf "%.2f", a / b }')"
done

# The showcase, headless (with and without its animations) and the cost of
# a window (scripts/bench-window.sh).
echo
echo "Smart-home demo (images/scenarios/home.toml, 60 s virtual), headless:"
for mode in "--no-animation" ""; do
  t0=$EPOCHREALTIME
  ./target/release/ensemble scenario --headless --quiet --artifacts "$TMP/home" $mode images/scenarios/home.toml >/dev/null 2>&1 \
    || { echo "bench: the home scenario failed" >&2; exit 1; }
  wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  printf '  %-28s %6s s wall, %5s x real time\n' "${mode:-with GIF animations}" "$wall" \
    "$(awk -v w="$wall" 'BEGIN { printf "%.1f", 60 / w }')"
done
./scripts/bench-window.sh

# The large device class: Debian's arm64 kernel to its initramfs marker,
# side by side with qemu-system-aarch64 (scripts/bench-linux.sh).
echo
echo "Linux boot on aarch64-virt vs QEMU virt (cortex-a53, 512 MiB):"
./scripts/bench-linux.sh
