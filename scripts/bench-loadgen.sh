#!/usr/bin/env bash
# Throughput of `mesh5xx loadgen` against wrk on the same hello server, back to back.
#
#   scripts/bench-loadgen.sh
#   ENVOY=/path/to/envoy scripts/bench-loadgen.sh   # also through one Envoy worker
#
# Env: CONNECTIONS (50), DURATION_S (5), ROUNDS (3: wrk and loadgen alternate, the
# median of each is compared). Ends with "loadgen/wrk throughput ratio: X.XX".
set -euo pipefail

cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-50}"
DURATION_S="${DURATION_S:-5}"
ROUNDS="${ROUNDS:-3}"
MESH5XX=target/release/mesh5xx
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

# Start "$@" in the background and print the address of its READY line (5 s at most).
start_server() {
    "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    local addr
    for _ in $(seq 50); do
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

wrk_rps() {
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION_S}s" "http://$1/" | awk '/^Requests\/sec:/ {print $2}'
}

loadgen_rps() {
    "$MESH5XX" loadgen --target "$1" -c "$CONNECTIONS" --duration-ms "$((DURATION_S * 1000))" \
        --progress never | sed -n 's/^ *"throughput_rps": \([0-9.]*\).*/\1/p'
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Alternate wrk and loadgen against $1; print "label wrk_median loadgen_median".
compare() {
    local label="$1" addr="$2" w l
    : >"$WORK/wrk" && : >"$WORK/loadgen"
    for round in $(seq "$ROUNDS"); do
        w="$(wrk_rps "$addr")"
        l="$(loadgen_rps "$addr")"
        log "$label round $round: wrk $w req/s, loadgen $l req/s"
        echo "$w" >>"$WORK/wrk"
        echo "$l" >>"$WORK/loadgen"
    done
    echo "$label $(median <"$WORK/wrk") $(median <"$WORK/loadgen")"
}

log "building release binaries"
cargo build --release -q -p mesh5xx
cargo build --release -q -p mesh5xx-loadgen --example hello

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y -q wrk >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi

if ADDR="$(start_server "$MESH5XX" upstream --listen 127.0.0.1:0)"; then
    log "hello server: mesh5xx upstream at $ADDR"
else
    ADDR="$(start_server target/release/examples/hello)"
    log "hello server: examples/hello at $ADDR"
fi

read -r _ WRK_RPS LOADGEN_RPS < <(compare direct "$ADDR")
printf 'wrk:     %8.0f req/s (median of %d)\n' "$WRK_RPS" "$ROUNDS"
printf 'loadgen: %8.0f req/s (median of %d)\n' "$LOADGEN_RPS" "$ROUNDS"

if [[ -n "${ENVOY:-}" ]]; then
    log "ENVOY=$ENVOY: the run through one Envoy worker is not wired yet"
fi

awk -v l="$LOADGEN_RPS" -v w="$WRK_RPS" 'BEGIN { printf "loadgen/wrk throughput ratio: %.2f\n", l / w }'
