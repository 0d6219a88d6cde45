#!/usr/bin/env bash
# Throughput of `mesh5xx diagnose --json` against `grep -c ' 503 '` on the same large
# synthetic access log (mixed formats and noise). Usage: scripts/bench-diagnose.sh [MB]
set -euo pipefail

cd "$(dirname "$0")/.."
megabytes="${1:-256}"
log="${TMPDIR:-/tmp}/mesh5xx-bench-${megabytes}mb.log"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

cargo build --release -p mesh5xx -p mesh5xx-diagnose --example gen_log
if [[ ! -s "$log" ]]; then
    echo "generating ${megabytes} MB into $log"
    "$target_dir/release/examples/gen_log" "$megabytes" >"$log"
fi
size=$(stat -c %s "$log")
cat "$log" >/dev/null # warm the page cache

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
seconds() { # runs "$@", prints its wall time in seconds
    local start end
    start=$(date +%s.%N)
    # Into a file, not /dev/null: GNU grep stops at the first match when writing there.
    "$@" >"$out" || true
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

t_diag=$(seconds "$target_dir/release/mesh5xx" diagnose --json "$log")
t_grep=$(seconds grep -c ' 503 ' "$log")
mb=$(echo "$size / 1048576" | bc -l)
printf '%-34s %8s %10s\n' "command" "seconds" "MB/s"
printf '%-34s %8.2f %10.1f\n' "mesh5xx diagnose --json" "$t_diag" "$(echo "$mb / $t_diag" | bc -l)"
printf '%-34s %8.2f %10.1f\n' "grep -c ' 503 '" "$t_grep" "$(echo "$mb / $t_grep" | bc -l)"
printf 'file: %s (%.0f MB)\n' "$log" "$mb"
