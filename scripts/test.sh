#!/usr/bin/env bash
# Set-up command 2: run every test. Tests that need ../shared skip without it,
# unless PERTBENCH_REQUIRE_SHARED=1 (CI), where they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
cargo test --workspace
