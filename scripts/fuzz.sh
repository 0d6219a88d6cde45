#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Fuzzes the access-log line parser (mesh5xx-accesslog `parse_line`) for a bounded time.
#
#   scripts/fuzz.sh                      # 60 s
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # longer
#
# Environment:
#   FUZZ_SECONDS        how long libFuzzer runs (default 60)
#   FUZZ_SANITIZER      cargo-fuzz sanitizer: address (default) or none
#   CARGO_FUZZ_VERSION  cargo-fuzz version installed when `cargo fuzz` is missing (0.13.2)
#
# Only a stable toolchain is needed: cargo-fuzz passes nightly-only flags
# (-Zsanitizer=address, sanitizer coverage), which stable rustc accepts with
# RUSTC_BOOTSTRAP=1. That variable is set for the fuzz build only.
#
# The fuzz crate (crates/accesslog/fuzz) is its own workspace with its own target
# directory (crates/accesslog/fuzz/target); CI should cache that directory and
# ~/.cargo/bin/cargo-fuzz. The checked-in seeds (fuzz/corpus/parse_line/seed-*) are
# read only; inputs the fuzzer finds go to fuzz/target/corpus/parse_line.
#
# Prints `fuzz parse_line: N runs in S s, 0 crashes` on success. On a crash it exits
# non-zero and names the artifact (fuzz/artifacts/parse_line/crash-*); reproduce with
#   cd crates/accesslog && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_line <artifact>
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
TARGET=parse_line

if ! [[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: FUZZ_SECONDS must be a positive integer, got '$FUZZ_SECONDS'" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib-procs.sh
source "$repo/scripts/lib-procs.sh"
# An interrupt stops the fuzzer too; nothing of the script's may be left running at the end.
procs_init fuzz.sh
crate="$repo/crates/accesslog"
fuzz="$crate/fuzz"
started=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 min)" >&2
  procs_run cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
installed=$SECONDS

export RUSTC_BOOTSTRAP=1
cd "$crate"

echo "fuzz.sh: building $TARGET ($(cargo fuzz --version), sanitizer $FUZZ_SANITIZER)" >&2
procs_run cargo fuzz build --sanitizer "$FUZZ_SANITIZER" "$TARGET"
built=$SECONDS

work_corpus="$fuzz/target/corpus/$TARGET"
mkdir -p "$work_corpus" "$fuzz/artifacts/$TARGET"
log="$fuzz/target/fuzz-$TARGET.log"

echo "fuzz.sh: running $TARGET for ${FUZZ_SECONDS}s (log: $log)" >&2
set +e
procs_run cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$TARGET" \
  "$work_corpus" "$fuzz/corpus/$TARGET" -- \
  -max_total_time="$FUZZ_SECONDS" \
  -dict="$fuzz/$TARGET.dict" \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -print_final_stats=1 \
  >"$log" 2>&1
status=$?
set -e

elapsed=$((SECONDS - started))
install_s=$((installed - started))
build_s=$((built - installed))
if [[ $status -ne 0 ]]; then
  # The panic or sanitizer report, then cargo-fuzz's summary (failing input, reproduce).
  echo "---- $log (excerpt) ----"
  grep -m 1 -A 2 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" || true
  sed -n '/^Failing input:/,/^Minimize/p' "$log"
  echo "----"
  artifact="$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/^Test unit written to //')"
  echo "fuzz $TARGET: CRASH (exit $status) after ${elapsed}s; artifact: ${artifact:-<none, see $log>}"
  exit 1
fi

done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)"
if [[ -z "$done_line" ]]; then
  tail -n 30 "$log" >&2
  echo "fuzz $TARGET: libFuzzer printed no 'Done' line (see $log)" >&2
  exit 1
fi
runs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")"
secs="$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")"
corpus_size="$(find "$work_corpus" -type f | wc -l | tr -d ' ')"
echo "fuzz.sh: install ${install_s}s, build ${build_s}s, total ${elapsed}s, $((runs / (secs > 0 ? secs : 1))) runs/s, corpus $corpus_size inputs" >&2
echo "fuzz $TARGET: $runs runs in $secs s, 0 crashes"
