#!/usr/bin/env bash
# Throughput of `mesh5xx loadgen` against wrk, back to back, on the same hello server.
#
#   scripts/bench-loadgen.sh            # loopback, hello server only
#   ENVOY=/path/to/envoy scripts/bench-loadgen.sh   # also through one Envoy worker
#
# Env: CONNECTIONS (50), DURATION_S (5). Prints both req/s and ends with
# "loadgen/wrk throughput ratio: X.XX".
set -euo pipefail

cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-50}"
DURATION_S="${DURATION_S:-5}"
WORK="$(mktemp -d)"
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "bench-loadgen: $*" >&2; }

# Start "$@" in the background; print the address from its READY line (5 s at most).
start_server() {
    "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 50); do
        local addr
        addr="$(sed -n 's/^MESH5XX-READY .*"addr":"\([^"]*\)".*/\1/p' "$WORK/server.out")"
        if [[ -n "$addr" ]]; then
            echo "$addr"
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    return 1
}

log "building release binaries"
cargo build --release -q -p mesh5xx
cargo build --release -q -p mesh5xx-loadgen --example hello
MESH5XX=target/release/mesh5xx

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi

if ADDR="$(start_server "$MESH5XX" upstream --listen 127.0.0.1:0)"; then
    log "hello server: mesh5xx upstream at $ADDR"
else
    ADDR="$(start_server target/release/examples/hello)"
    log "hello server: examples/hello at $ADDR"
fi

# Print "wrk_rps loadgen_rps" for one target URL/address.
measure() {
    local addr="$1"
    local wrk_rps loadgen_rps
    wrk_rps="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION_S}s" "http://$addr/" |
        awk '/^Requests\/sec:/ {print $2}')"
    loadgen_rps="$("$MESH5XX" loadgen --target "$addr" -c "$CONNECTIONS" \
        --duration-ms "$((DURATION_S * 1000))" --progress never |
        sed -n 's/^ *"throughput_rps": \([0-9.]*\).*/\1/p')"
    echo "$wrk_rps $loadgen_rps"
}

report() {
    local label="$1" wrk_rps="$2" loadgen_rps="$3"
    printf '%s wrk:     %10.0f req/s\n' "$label" "$wrk_rps"
    printf '%s loadgen: %10.0f req/s\n' "$label" "$loadgen_rps"
}

read -r WRK_RPS LOADGEN_RPS < <(measure "$ADDR")
report "direct " "$WRK_RPS" "$LOADGEN_RPS"

if [[ -n "${ENVOY:-}" ]]; then
    log "ENVOY is set to $ENVOY: the run through one Envoy worker is not wired yet"
fi

awk -v l="$LOADGEN_RPS" -v w="$WRK_RPS" 'BEGIN { printf "loadgen/wrk throughput ratio: %.2f\n", l / w }'
