#!/usr/bin/env bash
# Installs what building pertbench needs beyond Rust, gcc and Python, once:
# CMake >= 3.26 (HDF5 is built from source, hdf5-metno's `static` feature),
# pinned, from PyPI, into target/build-tools (.cargo/config.toml points the
# build at it). Nothing is installed system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PERTBENCH_PYTHON:-python3}"
TOOLS="$PWD/target/build-tools"
CMAKE_PIN="cmake==3.31.6"
if [ -x "$TOOLS/bin/cmake" ] && [ "$(cat "$TOOLS/.pin" 2>/dev/null)" = "$CMAKE_PIN" ]; then
  exit 0
fi
echo "setup: installing $CMAKE_PIN into $TOOLS" >&2
rm -rf "$TOOLS"
"$PY" -m venv "$TOOLS"
"$TOOLS/bin/pip" install -q --disable-pip-version-check "$CMAKE_PIN"
"$TOOLS/bin/cmake" --version | head -1 >&2
echo "$CMAKE_PIN" > "$TOOLS/.pin"
