#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What the netns network mode costs: making and removing one pod's network (namespace,
# veth, address, the era's capture rules; target <= 100 ms), and a scenario's wall time in
# the netns mode against the local mode, run back to back ROUNDS times (target <= 1.2x).
# Needs root, `ip` and `scripts/prereqs.sh iptables`.
#
#   scripts/bench-netns.sh [SCENARIO]      (default: pod-shutdown)
#
# Env: ROUNDS (2). Ends with "netns/local wall time ratio: X.XX".
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
SCENARIO="${1:-pod-shutdown}"
ROUNDS="${ROUNDS:-2}"
WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
procs_init bench-netns cleanup

cargo build --release -p mesh5xx
cargo build --release -p mesh5xx-podnet --example pod_bench
procs_run target/release/examples/pod_bench 30

# wall MODE ROUND: run the scenario in MODE, print its wall seconds.
wall() {
    local start end
    start=$(date +%s.%N)
    procs_run target/release/mesh5xx run "$SCENARIO" --network "$1" --check \
        --out "$WORK/$1-$2" >"$WORK/$1-$2.out" 2>&1 ||
        { cat "$WORK/$1-$2.out" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

local_total=0
netns_total=0
for round in $(seq 1 "$ROUNDS"); do
    l=$(wall local "$round")
    n=$(wall netns "$round")
    printf '%s round %d: local %.1f s, netns %.1f s\n' "$SCENARIO" "$round" "$l" "$n"
    local_total=$(echo "$local_total + $l" | bc -l)
    netns_total=$(echo "$netns_total + $n" | bc -l)
done
printf 'netns/local wall time ratio: %.2f\n' "$(echo "$netns_total / $local_total" | bc -l)"
