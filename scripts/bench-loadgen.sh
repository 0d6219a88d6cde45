#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of `mesh5xx loadgen` against wrk on the same hello server, back to back; the
# same through one Envoy worker; and the toy upstream (policies off) against a plain hyper
# hello server under the same wrk load.
#
#   scripts/bench-loadgen.sh
#
# Env: CONNECTIONS (50), DURATION_S (5), ROUNDS (3: wrk and loadgen alternate, the
# median of each is compared). Ends with "loadgen/wrk throughput ratio: X.XX".
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
CONNECTIONS="${CONNECTIONS:-50}"
DURATION_S="${DURATION_S:-5}"
ROUNDS="${ROUNDS:-3}"
MESH5XX=target/release/mesh5xx
WORK="$(mktemp -d)"

cleanup() { rm -rf "$WORK"; }
# On exit every server started below is stopped and waited for, and nothing of the script's
# may be left running (lib-procs.sh).
procs_init bench-loadgen cleanup

log() { echo "bench-loadgen: $*" >&2; }

# start_server NAME COMMAND...: start COMMAND in the background and set SERVER_PID to its pid
# and SERVER_ADDR to the address of its READY line (5 s at most). Call it in the script's own
# shell, never inside $(...): the pid must reach the EXIT trap.
start_server() {
    local name="$1"
    shift
    procs_bg "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    SERVER_PID=$PROCS_LAST
    for _ in $(seq 50); do
        SERVER_ADDR="$(sed -n 's/^MESH5XX-READY .*"addr":"\([^"]*\)".*/\1/p' "$WORK/$name.out")"
        [[ -n "$SERVER_ADDR" ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start: $(cat "$WORK/$name.err")"
    procs_kill "$SERVER_PID"
    return 1
}

# wrk_rps ADDR / loadgen_rps ADDR: print the requests/s of one run. They run in the script's
# own shell (procs_run), so an interrupt stops them at once.
wrk_rps() {
    procs_run wrk -t2 -c"$CONNECTIONS" -d"${DURATION_S}s" "http://$1/" >"$WORK/wrk.out"
    awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out"
}

loadgen_rps() {
    procs_run "$MESH5XX" loadgen --target "$1" -c "$CONNECTIONS" --duration-ms "$((DURATION_S * 1000))" \
        --progress never >"$WORK/loadgen.out"
    sed -n 's/^ *"throughput_rps": \([0-9.]*\).*/\1/p' "$WORK/loadgen.out"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# compare LABEL ADDR: alternate wrk and loadgen against ADDR; set WRK_MEDIAN and
# LOADGEN_MEDIAN.
compare() {
    local label="$1" addr="$2" w l
    : >"$WORK/wrk" && : >"$WORK/loadgen"
    for round in $(seq "$ROUNDS"); do
        wrk_rps "$addr" >"$WORK/w"
        loadgen_rps "$addr" >"$WORK/l"
        w="$(<"$WORK/w")" l="$(<"$WORK/l")"
        log "$label round $round: wrk $w req/s, loadgen $l req/s"
        echo "$w" >>"$WORK/wrk"
        echo "$l" >>"$WORK/loadgen"
    done
    WRK_MEDIAN="$(median <"$WORK/wrk")"
    LOADGEN_MEDIAN="$(median <"$WORK/loadgen")"
}

log "building release binaries"
cargo build --release -q -p mesh5xx
cargo build --release -q -p mesh5xx-upstream --example hello
ENVOY_BIN="$("$MESH5XX" envoy | cut -d' ' -f1)"

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y -q wrk >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi

# 1. The toy upstream against a plain hyper hello server, wrk on both.
start_server hello target/release/examples/hello
HELLO_ADDR=$SERVER_ADDR HELLO_PID=$SERVER_PID
start_server upstream "$MESH5XX" upstream --listen 127.0.0.1:0
ADDR=$SERVER_ADDR
log "plain hyper hello at $HELLO_ADDR, mesh5xx upstream at $ADDR"
: >"$WORK/hello" && : >"$WORK/upstream"
for round in $(seq "$ROUNDS"); do
    wrk_rps "$HELLO_ADDR" >>"$WORK/hello"
    wrk_rps "$ADDR" >>"$WORK/upstream"
done
procs_kill "$HELLO_PID"
HELLO_RPS="$(median <"$WORK/hello")"
UPSTREAM_RPS="$(median <"$WORK/upstream")"

# 2. Through one Envoy worker in front of the upstream.
cat >"$WORK/envoy.yaml" <<YAML
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config: {name: r, virtual_hosts: [{name: v, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: app, timeout: 0s}}]}]}
          http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    circuit_breakers: {thresholds: [{max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}]}
    load_assignment: {cluster_name: app, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: ${ADDR%:*}, port_value: ${ADDR##*:}}}}}]}]}
YAML
procs_bg "$ENVOY_BIN" -c "$WORK/envoy.yaml" --concurrency 1 --disable-hot-restart --log-level error \
    --admin-address-path "$WORK/admin" >"$WORK/envoy.out" 2>&1
for _ in $(seq 100); do [[ -s "$WORK/admin" ]] && break; sleep 0.05; done
ENVOY_ADDR="$(python3 - "$(cat "$WORK/admin")" <<'PY'
import json, sys, time, urllib.request
for _ in range(100):
    try:
        d = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/listeners?format=json"))
        a = d["listener_statuses"][0]["local_address"]["socket_address"]
        print(f'{a["address"]}:{a["port_value"]}')
        break
    except Exception:
        time.sleep(0.05)
PY
)"
if [[ -z "$ENVOY_ADDR" ]]; then
    log "Envoy did not start: $(cat "$WORK/envoy.out")"
    exit 1
fi
log "one Envoy worker at $ENVOY_ADDR"

# 3. wrk and loadgen, direct and through Envoy.
compare envoy "$ENVOY_ADDR"
ENVOY_WRK=$WRK_MEDIAN ENVOY_LOADGEN=$LOADGEN_MEDIAN
compare direct "$ADDR"
WRK_RPS=$WRK_MEDIAN LOADGEN_RPS=$LOADGEN_MEDIAN

printf 'plain hyper hello:         %8.0f req/s (wrk, median of %d)\n' "$HELLO_RPS" "$ROUNDS"
printf 'mesh5xx upstream:          %8.0f req/s (wrk, policies off)\n' "$UPSTREAM_RPS"
awk -v u="$UPSTREAM_RPS" -v h="$HELLO_RPS" 'BEGIN { printf "upstream/hello throughput ratio: %.2f\n", u / h }'
printf 'through one Envoy worker:  wrk %8.0f, loadgen %8.0f req/s\n' "$ENVOY_WRK" "$ENVOY_LOADGEN"
awk -v l="$ENVOY_LOADGEN" -v w="$ENVOY_WRK" 'BEGIN { printf "loadgen/wrk throughput ratio through Envoy: %.2f\n", l / w }'
printf 'direct:                    wrk %8.0f, loadgen %8.0f req/s\n' "$WRK_RPS" "$LOADGEN_RPS"

awk -v l="$LOADGEN_RPS" -v w="$WRK_RPS" 'BEGIN { printf "loadgen/wrk throughput ratio: %.2f\n", l / w }'
