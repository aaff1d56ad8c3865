#!/usr/bin/env bash
# Sets everything up and runs the default multi-device scenario
# (images/scenarios/default.toml: an Ethernet LAN with a hub, sensor nodes
# and a pinger, and three radio sensor nodes) headless, writing each
# device's UART log and each network's pcap to artifacts/. Windows arrive
# with the screen work; until then the demo is headless with or without a
# display. Another scenario: ./scripts/demo.sh images/scenarios/lan.toml
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build-images.sh
cargo build --release --quiet
scenario=${1:-images/scenarios/default.toml}
rm -rf artifacts
./target/release/ensemble scenario "$scenario" --artifacts artifacts
echo "Artifacts (UART logs, pcaps) in artifacts/"
