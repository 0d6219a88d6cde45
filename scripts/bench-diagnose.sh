#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of `mesh5xx diagnose --json` on one thread and on every core against
# `grep -c ' 503 '` on the same large synthetic access log (mixed formats and noise).
# Usage: scripts/bench-diagnose.sh [MB]
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

# seconds COMMAND...: run it (in the script's own shell, so an interrupt stops it at once),
# set ELAPSED to its wall time in seconds.
seconds() {
    local start end
    start=$(date +%s.%N)
    # Into a file, not /dev/null: GNU grep stops at the first match when writing there.
    procs_run "$@" >"$out" || true
    end=$(date +%s.%N)
    ELAPSED=$(echo "$end - $start" | bc -l)
}

threads=$(nproc)
seconds "$target_dir/release/mesh5xx" diagnose --json --threads 1 "$log"
t_diag=$ELAPSED
seconds "$target_dir/release/mesh5xx" diagnose --json --threads "$threads" "$log"
t_diag_n=$ELAPSED
seconds grep -c ' 503 ' "$log"
t_grep=$ELAPSED
mb=$(echo "$size / 1048576" | bc -l)
printf '%-34s %8s %10s\n' "command" "seconds" "MB/s"
printf '%-34s %8.2f %10.1f\n' "mesh5xx diagnose --threads 1" "$t_diag" "$(echo "$mb / $t_diag" | bc -l)"
printf '%-34s %8.2f %10.1f\n' "mesh5xx diagnose --threads $threads" "$t_diag_n" "$(echo "$mb / $t_diag_n" | bc -l)"
printf '%-34s %8.2f %10.1f\n' "grep -c ' 503 '" "$t_grep" "$(echo "$mb / $t_grep" | bc -l)"
printf 'file: %s (%.0f MB)\n' "$log" "$mb"
printf 'diagnose --threads %s / grep throughput ratio: %.2f\n' "$threads" "$(echo "$t_grep / $t_diag_n" | bc -l)"
printf 'diagnose/grep throughput ratio: %.2f\n' "$(echo "$t_grep / $t_diag" | bc -l)"
