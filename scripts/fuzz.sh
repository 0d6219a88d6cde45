#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Fuzzes the access-log parser (mesh5xx-accesslog) for a bounded time: one target per input
# family, the time split evenly between them.
#
#   scripts/fuzz.sh                      # 60 s in all
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # longer
#   FUZZ_TARGETS=parse_json scripts/fuzz.sh
#
# Targets (crates/accesslog/fuzz/fuzz_targets):
#   parse_text       TEXT formats: Istio's of every generation, Envoy's default, custom ones;
#                    a plain line cut after its flags keeps its code and flags
#   parse_json       JSON: Istio's keys or renamed ones, any order and value type
#   parse_key_value  key=value pairs
#   parse_pasted     prefixes, borders, Markdown and CSV escaping: a plain line pasted every
#                    way reads to the same code and flags
#
# Environment:
#   FUZZ_SECONDS        total time libFuzzer runs, split between the targets (default 60;
#                       at least 1 s per target)
#   FUZZ_TARGETS        space-separated targets to run (default: all four)
#   FUZZ_SANITIZER      cargo-fuzz sanitizer: address (default) or none
#   CARGO_FUZZ_VERSION  cargo-fuzz version installed when `cargo fuzz` is missing (0.13.2)
#
# Only a stable toolchain is needed: cargo-fuzz passes nightly-only flags
# (-Zsanitizer=address, sanitizer coverage), which stable rustc accepts with
# RUSTC_BOOTSTRAP=1. That variable is set for the fuzz build only.
#
# The fuzz crate (crates/accesslog/fuzz) is its own workspace with its own target
# directory (crates/accesslog/fuzz/target); CI should cache that directory and
# ~/.cargo/bin/cargo-fuzz. Each target's checked-in seeds (fuzz/corpus/TARGET/seed-*) and
# dictionary (fuzz/TARGET.dict) are read only; inputs the fuzzer finds go to
# fuzz/target/corpus/TARGET.
#
# Prints `fuzz TARGET: N runs in S s, 0 crashes` per target on success. On a crash it stops,
# exits non-zero and names the artifact (fuzz/artifacts/TARGET/crash-*); reproduce with
#   cd crates/accesslog && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET <artifact>
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-parse_text parse_json parse_key_value parse_pasted}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
read -r -a targets <<<"$FUZZ_TARGETS"

if ! [[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: FUZZ_SECONDS must be a positive integer, got '$FUZZ_SECONDS'" >&2
  exit 2
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz.sh: FUZZ_TARGETS names no target" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib-procs.sh
source "$repo/scripts/lib-procs.sh"
# An interrupt stops the fuzzer too; nothing of the script's may be left running at the end.
procs_init fuzz.sh
crate="$repo/crates/accesslog"
fuzz="$crate/fuzz"
for target in "${targets[@]}"; do
  if [[ ! -f "$fuzz/fuzz_targets/$target.rs" ]]; then
    echo "fuzz.sh: no fuzz target '$target' (see $fuzz/fuzz_targets)" >&2
    exit 2
  fi
done
# The budget split evenly; the first targets take the remainder's seconds.
per_target=$((FUZZ_SECONDS / ${#targets[@]}))
remainder=$((FUZZ_SECONDS % ${#targets[@]}))
if [[ $per_target -eq 0 ]]; then
  echo "fuzz.sh: FUZZ_SECONDS=$FUZZ_SECONDS is less than 1 s for each of ${#targets[@]} targets" >&2
  exit 2
fi
started=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 min)" >&2
  procs_run cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
installed=$SECONDS

export RUSTC_BOOTSTRAP=1
cd "$crate"

echo "fuzz.sh: building ${targets[*]} ($(cargo fuzz --version), sanitizer $FUZZ_SANITIZER)" >&2
for target in "${targets[@]}"; do
  procs_run cargo fuzz build --sanitizer "$FUZZ_SANITIZER" "$target"
done
built=$SECONDS

summaries=()
for i in "${!targets[@]}"; do
  target="${targets[$i]}"
  seconds=$((per_target + (i < remainder ? 1 : 0)))
  work_corpus="$fuzz/target/corpus/$target"
  mkdir -p "$work_corpus" "$fuzz/artifacts/$target"
  log="$fuzz/target/fuzz-$target.log"
  target_started=$SECONDS

  echo "fuzz.sh: running $target for ${seconds}s (log: $log)" >&2
  set +e
  procs_run cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$target" \
    "$work_corpus" "$fuzz/corpus/$target" -- \
    -max_total_time="$seconds" \
    -dict="$fuzz/$target.dict" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    >"$log" 2>&1
  status=$?
  set -e

  elapsed=$((SECONDS - target_started))
  if [[ $status -ne 0 ]]; then
    # The panic or sanitizer report, then cargo-fuzz's summary (failing input, reproduce).
    echo "---- $log (excerpt) ----"
    grep -m 1 -A 2 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" || true
    sed -n '/^Failing input:/,/^Minimize/p' "$log"
    echo "----"
    artifact="$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/^Test unit written to //')"
    printf '%s\n' "${summaries[@]}"
    echo "fuzz $target: CRASH (exit $status) after ${elapsed}s; artifact: ${artifact:-<none, see $log>}"
    exit 1
  fi

  done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)"
  if [[ -z "$done_line" ]]; then
    tail -n 30 "$log" >&2
    echo "fuzz $target: libFuzzer printed no 'Done' line (see $log)" >&2
    exit 1
  fi
  runs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")"
  secs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")"
  corpus_size="$(find "$work_corpus" -type f | wc -l | tr -d ' ')"
  echo "fuzz.sh: $target: $((runs / (secs > 0 ? secs : 1))) runs/s, corpus $corpus_size inputs" >&2
  summaries+=("fuzz $target: $runs runs in $secs s, 0 crashes")
done

echo "fuzz.sh: install $((installed - started))s, build $((built - installed))s, total $((SECONDS - started))s" >&2
printf '%s\n' "${summaries[@]}"
