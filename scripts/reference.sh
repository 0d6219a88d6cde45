#!/usr/bin/env bash
# Re-make the committed reference results: every scenario under its default Istio profile,
# the Istio-version matrix (the scenarios whose outcome depends on the version, under the
# other profiles), then the report in results/ (README.md, SVG charts, CSV, .hgrm).
# Full access logs are not kept: each variant keeps summary.json's counts and samples.log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo build --release --quiet -p mesh5xx
M=target/release/mesh5xx
REF=results/reference
WORK_README=$(mktemp)
rm -rf "$REF"
mkdir -p "$REF"

"$M" run --all --out "$REF/istio-1.4"
for profile in istio-1.13 istio-1.24; do
  for scenario in inbound-keepalive-uc inbound-app-down-uf outbound-timeout-ut; do
    "$M" run "$scenario" --profile "$profile" --out "$REF/$profile/$scenario"
  done
done

# Keep a few access-log lines per variant (the first lines and the first errors), drop the rest.
for dir in "$REF"/*/*/*/; do
  {
    for log in "$dir"access-*.log; do
      [ -f "$log" ] || continue
      echo "# $(basename "$log")"
      head -n 3 "$log"
      grep -E '" (5[0-9][0-9]) ' "$log" | head -n 5 || true
    done
  } >"${dir}samples.log"
  find "$dir" -type f ! -name samples.log ! -name latency.hgrm ! -name ipset.txt -delete
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
