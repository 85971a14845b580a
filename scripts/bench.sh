#!/usr/bin/env bash
# Benchmarks (wall time and peak memory; never timed tests).
#   bash scripts/bench.sh            quickstart + kernel cases (Task 5, PCA, kNN)
#   bash scripts/bench.sh hierarchy  issue 3's target: all six tasks on one
#                                    post-processing of a 256-dim representation
#                                    of a generated ~200,000-sample screen
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
cargo build -p pertbench
MIRROR=()
[ -d ../shared/mirror ] && MIRROR=(--mirror ../shared/mirror)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${1:-}" = hierarchy ]; then
  run=(./target/debug/pertbench --workdir "$work" "${MIRROR[@]}" --manifests data_manifests --manifests benches/manifests)
  # Inputs first (synthetic screen, PCA with 256 components, post-processing),
  # then the six tasks alone from the cached inputs, timed with their peak RSS.
  "${run[@]}" run benches/hierarchy_200k.yaml --quiet > /dev/null
  rm -rf "$work/cache/metric" "$work/results"
  /usr/bin/env time -f "six tasks, one post-processing, cached inputs: %e s wall, peak RSS %M KB" \
    "${run[@]}" run benches/hierarchy_200k.yaml | grep -E '^\[|nodes:'
  exit 0
fi

./target/debug/pertbench --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet > /dev/null  # fetch once
rm -rf "$work/cache" "$work/results"
/usr/bin/env time -f "quickstart, cold cache: %e s wall, peak RSS %M KB" \
  ./target/debug/pertbench --workdir "$work" "${MIRROR[@]}" run pipelines/quickstart.yaml --quiet > /dev/null
cargo run --release -q -p pertbench-kernels --example bench
