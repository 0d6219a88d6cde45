#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Speed of `mesh5xx egress` on loopback:
#   (1) DNS answers per second, measured with dnsperf (installed with apt-get when missing);
#   (2) one gateway against the direct path with wrk, for each firewall backend (`userspace`:
#       a TCP forwarder in the egress process; `nftables`: the kernel set, DNAT and
#       conntrack): added p50 latency and throughput ratio.
#
#   scripts/bench-egress.sh
#
# The measurements run in a private network namespace of their own (root), which the
# nftables backend needs. Env: CONNECTIONS (50), DURATION_S (3 per wrk run), ROUNDS (3
# alternating runs direct / through, medians printed). Goals: >= 20000 q/s,
# <= 100 us added at p50, >= 0.80 of the direct throughput. Figures vary by about 15 % on
# 2 shared cores.
set -euo pipefail

cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-50}"
DURATION_S="${DURATION_S:-3}"
ROUNDS="${ROUNDS:-3}"

log() { echo "bench-egress: $*" >&2; }

ensure_tool() { # ensure_tool COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    log "installing $2"
    apt-get install -y -q "$2" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null 2>&1; } || true
    command -v "$1" >/dev/null
}

if [[ -z "${MESH5XX_BENCH_NETNS:-}" ]]; then
    # What needs the package manager first, then into the namespace.
    log "building release binaries"
    cargo build --release -q -p mesh5xx
    ensure_tool dnsperf dnsperf || log "dnsperf is not installable here: DNS figure skipped"
    ensure_tool wrk wrk || log "wrk is not installable here: gateway figures skipped"
    ensure_tool nft nftables || log "nft is not installable here: nftables backend skipped"
    ensure_tool dig dnsutils || log "dig is not installable here"
    MESH5XX_BENCH_NETNS=1 exec unshare -n "$0" "$@"
fi
ip link set lo up

# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
MESH5XX=target/release/mesh5xx
WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
# On exit every process started below is stopped and waited for, and nothing of the script's
# may be left running (lib-procs.sh).
procs_init bench-egress cleanup

# Start "$@" in the background with its output in $WORK/$name.out; set READY to its
# READY payload and READY_PID to its pid (5 s at most). Not in a subshell or $(...): the pid
# must reach the EXIT trap.
start_ready() {
    local name="$1"
    shift
    procs_bg "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    READY_PID=$PROCS_LAST
    for _ in $(seq 50); do
        READY="$(sed -n 's/^MESH5XX-READY //p' "$WORK/$name.out")"
        [[ -n "$READY" ]] && return 0
        kill -0 "$READY_PID" 2>/dev/null || break
        sleep 0.1
    done
    procs_kill "$READY_PID"
    return 1
}

json_field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval("v"+sys.argv[2]))' "$1" "$2"; }

start_ready upstream "$MESH5XX" upstream --listen 127.0.0.1:0
log "hello server: mesh5xx upstream"
UPSTREAM="$(json_field "$READY" '["addr"]')"

start_egress() { # start_egress BACKEND: sets EGRESS_PID, DNS_PORT, GATEWAY
    printf '%s\n' \
        '{"zones":[{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":30}],' \
        ' "allow":["external.service.com"],"allow_timeout_ms":3600000,"backend":"'"$1"'",' \
        ' "gateways":[{"ip":"127.0.0.2","upstream":"'"$UPSTREAM"'"}]}' >"$WORK/egress-$1.json"
    if ! start_ready "egress-$1" "$MESH5XX" egress --config "$WORK/egress-$1.json" --report "$WORK/report-$1.json"; then
        log "egress ($1) did not start: $(cat "$WORK/egress-$1.err")"
        return 1
    fi
    EGRESS_PID=$READY_PID
    DNS_PORT="$(json_field "$READY" '["dns"].split(":")[1]')"
    GATEWAY="$(json_field "$READY" '["gateways"][0]["addr"]')"
    log "egress ($1): dns 127.0.0.1:$DNS_PORT, gateway $GATEWAY -> $UPSTREAM"
}

stop_egress() { # stop_egress BACKEND: prints what the gateway carried
    procs_kill "$EGRESS_PID"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
d, g = r["dns"], r["gateways"][0]
print("egress report (%s): %d DNS queries %s, gateway forwarded %d connections, refused %d"
      % (sys.argv[2], d["udp"] + d["tcp"], d["by_answer"], g["forwarded"], g["refused"]))
' "$WORK/report-$1.json" "$1"
}

to_us() { # wrk latency (e.g. 812.00us, 1.20ms, 2.00s) -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
    }'
}

# measure ADDR CONNECTIONS THREADS: sets RPS and P50_US. wrk runs in the script's own shell
# (procs_run), so an interrupt stops it at once.
measure() {
    procs_run wrk -t"$3" -c"$2" -d"${DURATION_S}s" --latency "http://$1/" >"$WORK/wrk.out"
    RPS="$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out")"
    P50_US="$(to_us "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

compare() { # compare BACKEND CONNECTIONS THREADS: ROUNDS alternating runs each way, medians
    local direct_rps=() direct_p50=() gw_rps=() gw_p50=()
    for _ in $(seq "$ROUNDS"); do
        measure "$UPSTREAM" "$2" "$3"
        direct_rps+=("$RPS") direct_p50+=("$P50_US")
        measure "$GATEWAY" "$2" "$3"
        gw_rps+=("$RPS") gw_p50+=("$P50_US")
    done
    local dr dp gr gp
    dr="$(median "${direct_rps[@]}")" dp="$(median "${direct_p50[@]}")"
    gr="$(median "${gw_rps[@]}")" gp="$(median "${gw_p50[@]}")"
    printf 'gateway %-9s wrk -t%s -c%-3s direct:  %9.0f req/s  p50 %6.0f us (median of %s)\n' "$1" "$3" "$2" "$dr" "$dp" "$ROUNDS"
    printf 'gateway %-9s wrk -t%s -c%-3s through: %9.0f req/s  p50 %6.0f us (median of %s)\n' "$1" "$3" "$2" "$gr" "$gp" "$ROUNDS"
    awk -v b="$1" -v d="$dp" -v g="$gp" -v dr="$dr" -v gr="$gr" -v c="$2" 'BEGIN {
        printf "gateway %-9s -c%-3s p50 added:        %6.0f us (goal <= 100)\n", b, c, g - d
        printf "gateway %-9s -c%-3s throughput ratio: %6.2f (goal >= 0.80)\n", b, c, gr / dr
    }'
}

# (1) DNS (the same server with either backend).
start_egress userspace
if command -v dnsperf >/dev/null; then
    printf 'external.service.com A\nexternal.service.com AAAA\nunknown.service.com A\nexternal.service.com A\n' >"$WORK/queries"
    procs_run dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/queries" -l "$DURATION_S" -c 4 -q 200 >"$WORK/dnsperf.out" 2>&1
    qps="$(awk '/Queries per second:/ {print $4}' "$WORK/dnsperf.out")"
    procs_run dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/queries" -l 1 -c 4 -q 200 >"$WORK/dnsperf.out" 2>&1 || true
    lost="$(awk '/Queries lost:/ {print $3}' "$WORK/dnsperf.out")"
    printf 'dns  dnsperf:            %10.0f q/s (goal >= 20000; lost in a 1 s rerun: %s)\n' "$qps" "$lost"
fi
stop_egress userspace

# (2) Gateways: the firewall opens on a DNS answer, then wrk direct vs through the gateway,
# with many connections (the goal's setting: on 2 shared cores a userspace forwarder's own
# CPU use costs throughput) and with one (the per-request cost alone).
command -v wrk >/dev/null || exit 0
for backend in userspace nftables; do
    if [[ "$backend" == nftables ]] && ! command -v nft >/dev/null; then
        continue
    fi
    start_egress "$backend" || continue
    dig @127.0.0.1 -p "$DNS_PORT" external.service.com A +short >/dev/null
    compare "$backend" "$CONNECTIONS" 2
    compare "$backend" 1 1
    stop_egress "$backend"
done
