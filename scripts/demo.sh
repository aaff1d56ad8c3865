#!/usr/bin/env bash
# Sets everything up and runs the showcase: the smart home of
# images/scenarios/home.toml (a phone's control center, a watch, a speaker
# and three 128 KiB sensor nodes that discover each other over a simulated
# radio and LAN, with a scripted story: a kitchen alert, a chime, a message
# on the watch, a node moved out of range and back, a cable cut and healed).
# With a display: a window per device plus the network view, at real-time
# pace. Without one: headless, as fast as the machine can, writing to
# artifacts/ each device's screen as an animated GIF, the network view
# (network.gif/png), pcaps, WAVs and UART logs.
#   ./scripts/demo.sh                         # the smart home
#   ./scripts/demo.sh images/scenarios/lan.toml   # another scenario
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build-images.sh >/dev/null
cargo build --release --quiet
scenario=${1:-images/scenarios/home.toml}
rm -rf artifacts
status=0
./target/release/ensemble scenario "$scenario" --artifacts artifacts || status=$?
echo
echo "Artifacts in artifacts/:"
ls artifacts | sed 's/^/  /'
exit "$status"
