#!/usr/bin/env bash
# Set-up command 2: run every test. Tests that need ../shared skip without it,
# unless PERTBENCH_REQUIRE_SHARED=1 (CI), where they fail instead. The
# conformance suite's writers (pinned anndata releases in virtual
# environments) are built first, once, so that it never passes by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
bash scripts/venvs.sh
export PERTBENCH_REQUIRE_VENVS=1
cargo test --workspace
