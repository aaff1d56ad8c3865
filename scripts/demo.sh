#!/usr/bin/env bash
# Sets everything up and runs the demo. Until the multi-device scenario
# lands, this boots each built-in board with its hello image and the
# interrupt showcase, headless, writing UART logs to artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build-images.sh
cargo build --release --quiet
mkdir -p artifacts
bin=./target/release/ensemble
for pair in mps2-an385:hello-an385 mps2-an386:hello-an386 sensor-node:hello-sensor-node mps2-an385:irq-nesting; do
  board=${pair%%:*} image=${pair#*:}
  echo "=== $image on $board"
  "$bin" run --board "$board" --image "images/build/$image.elf" --no-input \
    --uart-log "artifacts/$image.uart.txt" --time-limit 60s --stats
done
echo "UART logs in artifacts/"
