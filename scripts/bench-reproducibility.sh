#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# How reproducible each scenario's baseline is: every baseline RUNS times on the machine as it
# is ("quiet"), then RUNS times with two busy-loop CPU hogs competing for the cores ("busy"),
# which this script starts and stops itself. One line per scenario:
#
#   SCENARIO: quiet mean X % cv Y %, busy mean X % cv Y %, busy/quiet Z
#
# then "worst cv: N %" and whether the targets hold (cv <= 20 % in each set, busy/quiet
# within 1.5x). A benchmark, not part of the tests; run it on an otherwise idle machine.
#
#   scripts/bench-reproducibility.sh [SCENARIO...]      (default: every scenario)
#
# Env: RUNS (5), VARIANT (baseline), HOGS (2), OUT (a new directory under results/runs/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
procs_init bench-reproducibility
RUNS=${RUNS:-5}
VARIANT=${VARIANT:-baseline}
HOGS=${HOGS:-2}
M=target/release/mesh5xx
scripts/prereqs.sh
cargo build --release --quiet -p mesh5xx
OUT=${OUT:-results/runs/$(date -u +%Y-%m-%d-%H%M%S)_reproducibility}
mkdir -p "$OUT"
if [ $# -gt 0 ]; then
  SCENARIOS=("$@")
else
  mapfile -t SCENARIOS < <("$M" list | awk '{print $1}')
fi
log() { echo "bench-reproducibility: $*" >&2; }

HOG_PIDS=()
hogs_start() {
  local i
  for ((i = 0; i < HOGS; i++)); do
    procs_bg bash -c 'while :; do :; done'
    HOG_PIDS+=("$PROCS_LAST")
  done
}
hogs_stop() {
  local pid
  for pid in "${HOG_PIDS[@]}"; do procs_kill "$pid"; done
  HOG_PIDS=()
}

# The error-rate statistics of VARIANT in a summary: "MEAN_PERCENT CV_PERCENT".
stats_of() {
  python3 - "$1" "$VARIANT" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
v = next(v for v in summary["variants"] if v["name"] == sys.argv[2])
s = v["error_rate_stats"]
cv = s["cv"] if s["cv"] is not None else 0.0
print(f"{100 * s['mean']:.3f} {100 * cv:.1f}")
EOF
}

measure() { # measure SET SCENARIO -> sets MEAN and CV
  local dir="$OUT/$1/$2"
  procs_run "$M" run "$2" --variant "$VARIANT" --repeat "$RUNS" --out "$dir" >"$dir.log" 2>&1 ||
    log "$2 ($1): some run missed its expectations; see $dir.log"
  read -r MEAN CV < <(stats_of "$dir/summary.json")
}

mkdir -p "$OUT/quiet" "$OUT/busy"
LINES=()
WORST=0
MET=yes
for scenario in "${SCENARIOS[@]}"; do
  log "$scenario: $RUNS runs quiet"
  measure quiet "$scenario"
  quiet_mean=$MEAN quiet_cv=$CV
  log "$scenario: $RUNS runs with $HOGS CPU hogs"
  hogs_start
  measure busy "$scenario"
  hogs_stop
  busy_mean=$MEAN busy_cv=$CV
  ratio=$(awk -v b="$busy_mean" -v q="$quiet_mean" 'BEGIN { if (q > 0) printf "%.2f", b / q; else print (b > 0 ? "inf" : "1.00") }')
  line="$scenario: quiet mean $quiet_mean % cv $quiet_cv %, busy mean $busy_mean % cv $busy_cv %, busy/quiet $ratio"
  echo "$line"
  LINES+=("$line")
  WORST=$(awk -v w="$WORST" -v a="$quiet_cv" -v b="$busy_cv" 'BEGIN { m = w; if (a > m) m = a; if (b > m) m = b; print m }')
  if ! awk -v a="$quiet_cv" -v b="$busy_cv" -v r="$ratio" \
    'BEGIN { exit !(a <= 20 && b <= 20 && r != "inf" && r <= 1.5 && r >= 1 / 1.5) }'; then
    MET=no
  fi
done
echo "worst cv: $WORST %"
echo "targets (cv <= 20 % in each set, busy/quiet within 1.5x) met: $MET"
printf '%s\n' "${LINES[@]}" "worst cv: $WORST %" >"$OUT/reproducibility.txt"
log "runs in $OUT"
