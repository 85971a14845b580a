#!/usr/bin/env bash
# libFuzzer runs of pertbench's fuzz targets (fuzz/, bodies in
# crates/fuzzing). Needs the nightly toolchain; installs cargo-fuzz (pinned)
# from crates.io when missing.
#
#   bash scripts/fuzz.sh build                  instrumented build of every target
#   bash scripts/fuzz.sh smoke [SECONDS]        every target for SECONDS (default 20)
#   bash scripts/fuzz.sh long [RUNS]            every target for at least RUNS executions (default 10000)
#   bash scripts/fuzz.sh run TARGET [RUNS]      one target
#   bash scripts/fuzz.sh reproduce TARGET FILE  one input, with its backtrace
#
# Each run starts from the seed corpus (`fuzz-seeds`: the repository's own
# files and files written by anndata, cmapPy, NumPy and pandas from the
# pinned environments of scripts/venvs.sh), keeps what it finds in
# target/fuzz-corpus/<target>, and stops at the first crash, timeout (an
# input over 10 s) or memory blow-up (over 2 GB), saved in
# target/fuzz-failures/<target>/. Add a fixed crash's input to
# fuzz/regressions/<target>/: every `cargo test` replays it. Prints one line
# per target (executions, seconds, executions/s, peak RSS, slowest input)
# and writes them to target/fuzz-summary.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CARGO_FUZZ_PIN="0.13.2"
TARGETS=(pipeline manifest h5ad h5ad_layout gctx table npy results sql)
SEEDS="$ROOT/target/fuzz-seeds"

need_tools() {
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_PIN"; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_PIN"
  fi
  bash scripts/setup-system.sh
}

build() {
  need_tools
  # The fuzz workspace resolves exactly the versions the main one does.
  cp Cargo.lock fuzz/Cargo.lock
  (cd fuzz && cargo +nightly fuzz build --fuzz-dir . -s none)
  cargo build -q -p pertbench-fuzzing --bin fuzz-seeds
  rm -rf "$SEEDS"
  target/debug/fuzz-seeds "$SEEDS" >&2
}

# run TARGET LIMIT_FLAG: one libFuzzer run; appends its summary line.
run_one() {
  local t="$1" limit="$2"
  local corpus="$ROOT/target/fuzz-corpus/$t" failures="$ROOT/target/fuzz-failures/$t/"
  local log="$ROOT/target/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$failures" "$(dirname "$log")"
  local bin="$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release/$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built: bash scripts/fuzz.sh build" >&2; exit 1; }
  local rc=0
  # -close_fd_mask=1: the targets' stdout is noise; stderr keeps warnings.
  "$bin" "$corpus" "$SEEDS/$t" $limit -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$failures" >"$log" 2>&1 || rc=$?
  local runs secs rss slowest
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  slowest=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -1)
  local verdict="ok"
  if [ "$rc" -ne 0 ]; then
    verdict="FAILED (exit $rc): $(grep -m1 -E 'ERROR: libFuzzer|panicked at|SUMMARY' "$log" || true) -- see $log"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${runs:-?}" "${secs:-?}" "${rss:-?}" "${slowest:-?}" "$verdict" \
    | tee -a "$ROOT/target/fuzz-summary.tsv"
  return "$rc"
}

run_all() {
  local limit="$1" failed=0
  printf 'target\texecutions\tseconds\tpeak_rss_mb\tslowest_input_s\tverdict\n' | tee "$ROOT/target/fuzz-summary.tsv"
  for t in "${TARGETS[@]}"; do
    run_one "$t" "$limit" || failed=1
  done
  return "$failed"
}

case "${1:-}" in
  build) build ;;
  smoke) build; run_all "-max_total_time=${2:-20}" ;;
  long) build; run_all "-runs=${2:-10000}" ;;
  run)
    [ -n "${2:-}" ] || { echo "usage: fuzz.sh run TARGET [RUNS]" >&2; exit 2; }
    build
    printf 'target\texecutions\tseconds\tpeak_rss_mb\tslowest_input_s\tverdict\n' | tee "$ROOT/target/fuzz-summary.tsv"
    run_one "$2" "-runs=${3:-10000}" ;;
  reproduce)
    [ -n "${3:-}" ] || { echo "usage: fuzz.sh reproduce TARGET FILE" >&2; exit 2; }
    RUST_BACKTRACE=1 "$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release/$2" "$3" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
