#!/usr/bin/env bash
# Sets everything up and runs the default multi-device scenario headless,
# writing each device's UART log (and each network's pcap) to artifacts/.
# Windows arrive with the screen work; until then the demo is headless
# whether or not a display exists.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build-images.sh
cargo build --release --quiet
scenario=${1:-images/scenarios/default.toml}
./target/release/ensemble scenario "$scenario" --artifacts artifacts
echo "Artifacts (UART logs, pcaps) in artifacts/"
