#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of `mesh5xx diagnose --json` on one thread and on every core against
# `grep -c ' 503 '` on the same large synthetic access log (mixed formats and noise), the
# scaling from one thread to every core, and the CPU time each took (which other work on
# the machine disturbs less than the wall time).
# Usage: [RUNS=3] scripts/bench-diagnose.sh [MB]
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
megabytes="${1:-256}"
log="${TMPDIR:-/tmp}/mesh5xx-bench-${megabytes}mb.log"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

out="$(mktemp)"
partial=""
cleanup() { rm -f "$out" ${partial:+"$partial"}; }
# Nothing of the script's may be left running when it ends (lib-procs.sh).
procs_init bench-diagnose cleanup

cargo build --release -p mesh5xx --bin mesh5xx
cargo build --release -p mesh5xx-diagnose --example gen_log
cargo build --release -p mesh5xx-accesslog --example parse_file
if [[ ! -s "$log" ]]; then
    echo "generating ${megabytes} MB into $log"
    # Into a file of its own first: an interrupted run leaves no short log to be reused.
    partial="$(mktemp "$log.XXXXXX")"
    procs_run "$target_dir/release/examples/gen_log" "$megabytes" >"$partial"
    mv "$partial" "$log"
    partial=""
fi
size=$(stat -c %s "$log")
cat "$log" >/dev/null # warm the page cache
load=$(cut -d" " -f1-3 /proc/loadavg)

# Each command runs RUNS times (default 3); the fastest run counts (the others met more of
# the machine's other work). CPU is the user and system time of that run.
runs="${RUNS:-3}"

# measure COMMAND...: set ELAPSED and CPU (seconds) to the fastest run's wall and CPU time.
# Each run is in the script's own shell, so an interrupt stops it at once.
measure() {
    local start end before after elapsed cpu
    ELAPSED=""
    for ((run = 0; run < runs; run++)); do
        children_cpu
        before=$CHILDREN_CPU
        start=$(date +%s.%N)
        # Into a file, not /dev/null: GNU grep stops at the first match when writing there.
        procs_run "$@" >"$out" || true
        end=$(date +%s.%N)
        children_cpu
        after=$CHILDREN_CPU
        elapsed=$(echo "$end - $start" | bc -l)
        cpu=$(echo "$after - $before" | bc -l)
        if [[ -z "$ELAPSED" ]] || (($(echo "$elapsed < $ELAPSED" | bc -l))); then
            ELAPSED=$elapsed
            CPU=$cpu
        fi
    done
}

# Set CHILDREN_CPU to the user and system seconds of the shell's finished children so far
# (bash's `times`, run in this shell: in a subshell it would count the subshell's).
children_cpu() {
    local user sys
    times >"$out"
    { read -r _ _ && read -r user sys; } <"$out"
    CHILDREN_CPU=$(echo "$(to_seconds "$user") + $(to_seconds "$sys")" | bc -l)
}

# 1m2.345s -> 62.345
to_seconds() {
    local t=${1%s}
    echo "${t%%m*} * 60 + ${t#*m}" | bc -l
}

threads=$(nproc)
measure "$target_dir/release/mesh5xx" diagnose --json --threads 1 "$log"
t_diag=$ELAPSED
c_diag=$CPU
measure "$target_dir/release/mesh5xx" diagnose --json --threads "$threads" "$log"
t_diag_n=$ELAPSED
c_diag_n=$CPU
measure grep -c ' 503 ' "$log"
t_grep=$ELAPSED
c_grep=$CPU
mb=$(echo "$size / 1048576" | bc -l)
printf '%-34s %8s %10s %8s\n' "command (fastest of $runs)" "seconds" "MB/s" "CPU s"
row() { printf '%-34s %8.2f %10.1f %8.2f\n' "$1" "$2" "$(echo "$mb / $2" | bc -l)" "$3"; }
row "mesh5xx diagnose --threads 1" "$t_diag" "$c_diag"
row "mesh5xx diagnose --threads $threads" "$t_diag_n" "$c_diag_n"
row "grep -c ' 503 '" "$t_grep" "$c_grep"
# The parse alone (no diagnosis), the fastest of three passes. On a noisy machine its wall
# time is too unsteady to tell the parser's share; instruction counts (callgrind) tell it.
"$target_dir/release/examples/parse_file" "$log" | tail -1 | sed 's/^/access log parse only, one thread: /'
printf 'file: %s (%.0f MB); load average before: %s\n' "$log" "$mb" "$load"
printf 'diagnose --threads %s / --threads 1 scaling: %.2f\n' "$threads" "$(echo "$t_diag / $t_diag_n" | bc -l)"
printf 'diagnose --threads %s / grep throughput ratio: %.2f\n' "$threads" "$(echo "$t_grep / $t_diag_n" | bc -l)"
printf 'diagnose/grep CPU-time ratio (one thread): %.2f\n' "$(echo "$c_grep / $c_diag" | bc -l)"
printf 'diagnose/grep throughput ratio: %.2f\n' "$(echo "$t_grep / $t_diag" | bc -l)"
