#!/usr/bin/env bash
# Benchmarks: wall time and peak memory of the quickstart (debug build, as the
# README runs it) and of the Task 5 and PCA kernels at scale (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
cargo build -p pertbench
work=$(mktemp -d)
MIRROR=()
[ -d ../shared/mirror ] && MIRROR=(--mirror ../shared/mirror)
./target/debug/pertbench --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet > /dev/null  # fetch once
rm -rf "$work/cache" "$work/results"
/usr/bin/env time -f "quickstart  52 nodes, cold cache: %e s wall, peak RSS %M KB" \
  ./target/debug/pertbench --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet > /dev/null
rm -rf "$work"
cargo run --release -q -p pertbench-kernels --example bench
