#!/usr/bin/env bash
# How fast the control plane's pushes reach real sidecars: 10, 50 and 100 Envoys on loopback,
# subscribed over ADS, state of the world and delta side by side; one endpoint changes ten
# times, and the time from each push (after istiod's 100 ms debounce) to each sidecar's EDS
# ACK is measured. A line per API, then the istio-1.24 profile's (delta) in the line below.
#
#   scripts/bench-control-plane.sh            10, 50 and 100 sidecars
#   scripts/bench-control-plane.sh 10 20      other counts
#
# Ends with `push to ack p50/p99 ms at 10/50/100 sidecars: a/b c/d e/f`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
[ $# -gt 0 ] || set -- 10 50 100
cargo bench --quiet -p mesh5xx-xds --bench push -- "$@"
