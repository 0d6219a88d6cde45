#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Re-make the committed reference results: every scenario under its default Istio profile,
# the Istio-version matrix (every scenario under the other profiles; variants a profile's
# istiod could not express are recorded as n/a), then the report in results/ (README.md, SVG charts, CSV, .hgrm).
# Full access logs are not kept: each variant keeps summary.json's counts and samples.log.
#
#   scripts/reference.sh                 remake everything (about an hour with REPEAT=5)
#   scripts/reference.sh SCENARIO...     remake these scenarios (every profile they run under)
#   PROFILES=istio-1.2 scripts/reference.sh   remake every scenario under these profiles only
#
# Env: REPEAT (5): runs of each variant under the scenario's own profile, interleaved
#      round by round (`mesh5xx run --repeat`); MATRIX_REPEAT (REPEAT): the same under the
#      other profiles; PROFILES (every one of `mesh5xx list --profiles`): which to remake.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib-procs.sh
source scripts/lib-procs.sh
scripts/prereqs.sh
cargo build --release --quiet -p mesh5xx
M=target/release/mesh5xx
REF=results/reference
REPEAT=${REPEAT:-5}
WORK_README=$(mktemp)
cleanup() { rm -f "$WORK_README"; }
# An interrupt stops the run in progress too; nothing of the script's may be left running.
procs_init reference.sh cleanup
MATRIX_REPEAT=${MATRIX_REPEAT:-$REPEAT}
mapfile -t KNOWN_PROFILES < <("$M" list --profiles | awk '{print $1}')
read -r -a PROFILE_LIST <<<"${PROFILES:-${KNOWN_PROFILES[*]}}"
for profile in "${PROFILE_LIST[@]}"; do # an unknown profile stops here, before anything is removed
  if [[ " ${KNOWN_PROFILES[*]} " != *" $profile "* ]]; then
    echo "reference.sh: PROFILES names $profile; known: ${KNOWN_PROFILES[*]}" >&2
    exit 2
  fi
done
mapfile -t SCENARIOS < <("$M" list | awk '{print $1}')
FRESH=() # the scenario directories made by this run

remake() { # remake PROFILE SCENARIO; REPEAT runs under the scenario's own profile
  rm -rf "${REF:?}/$1/$2"
  local repeat=$MATRIX_REPEAT
  [ "$1" = "$("$M" list --json | python3 -c "import json,sys; print(next(s['profile'] for s in json.load(sys.stdin)['scenarios'] if s['name'] == sys.argv[1]))" "$2")" ] && repeat=$REPEAT
  procs_run "$M" run "$2" --repeat "$repeat" --profile "$1" --out "$REF/$1/$2"
  FRESH+=("$REF/$1/$2")
}

if [ $# -eq 0 ] && [ -z "${PROFILES:-}" ]; then
  rm -rf "$REF"
fi
if [ $# -gt 0 ]; then
  for scenario in "$@"; do
    "$M" explain "$scenario" >/dev/null # an unknown name stops here, before anything is removed
  done
  SCENARIOS=("$@")
fi
mkdir -p "$REF"
for profile in "${PROFILE_LIST[@]}"; do
  for scenario in "${SCENARIOS[@]}"; do remake "$profile" "$scenario"; done
done

# Keep a few access-log lines per variant or run (the first lines, the first errors: 5xx, or
# no response with a flag such as `0 DC`; and the last lines: whether the cluster answered
# again after its errors), drop the rest.
for dir in $(for d in "${FRESH[@]}"; do echo "$d"/*/ "$d"/*/run-*/; done); do
  [ -d "$dir" ] || continue
  {
    for log in "$dir"access-*.log; do
      [ -f "$log" ] || continue
      echo "# $(basename "$log")"
      head -n 3 "$log"
      grep -E '" (5[0-9][0-9]|0 [A-Z]+) ' "$log" | head -n 5 || true
      tail -n 3 "$log"
    done
  } >"${dir}samples.log"
  find "$dir" -maxdepth 1 -type f ! -name samples.log ! -name latency.hgrm ! -name ipset.txt -delete
  rm -rf "${dir}certs" # a run's own CA and keys (topology.mtls), made anew by every run
done

rm -f results/*.svg results/*.csv results/*.hgrm
"$M" report "$REF"/*/* --out results
# The page people read first: what the tables mean, then the report.
{
  cat results/README.intro.md
  echo
  echo '## Runs'
  tail -n +2 results/README.md
} >"$WORK_README"
mv "$WORK_README" results/README.md
echo "reference results in $REF; report in results/README.md"
