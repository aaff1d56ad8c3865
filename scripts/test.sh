#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the whole test suite:
# unit tests of the devices and the core, and whole-machine tests that boot
# our images and compare their UART output with QEMU's, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/build-images.sh
# Debian's arm64 U-Boot, kernel and busybox (cached in target/arm64) and
# our initramfs, for the aarch64-virt tests.
./scripts/fetch-arm64.sh
./scripts/build-initramfs.sh
export ENSEMBLE_REQUIRE_QEMU=1 ENSEMBLE_REQUIRE_ARM64=1
cargo build --release --workspace --quiet
cargo test --release --workspace 2>&1 | tee target/test-output.txt
# The scenario tests under images/tests, as CI runs them, with a JUnit
# report for its test view. Their result counts after the summary.
scenario_tests=0
./target/release/ensemble test images/tests/*.toml images/scenarios/home.toml --junit target/junit.xml --artifacts target/ensemble-artifacts || scenario_tests=$?
# Summary line for CI: the totals of every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i; exit (f > 0) }' target/test-output.txt
exit "$scenario_tests"
