#!/usr/bin/env bash
# Set-up command 1: build pertbench and run the quickstart on the built-in
# synthetic screen. Relationship files come from a mirror when ../shared is
# beside the clone, else from PyPI (pip download efaar-benchmarking==1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
cargo build -p pertbench
MIRROR=()
[ -d ../shared/mirror ] && MIRROR=(--mirror ../shared/mirror)
exec ./target/debug/pertbench "${MIRROR[@]}" run pipelines/quickstart.yaml "$@"
