#!/usr/bin/env bash
# Installs what building pertbench needs beyond Rust, gcc and Python, once:
# CMake >= 3.26 (HDF5 is built from source, hdf5-metno's `static` feature),
# pinned, from PyPI, into target/build-tools (.cargo/config.toml points the
# build at it); and the HDF5 source crate with pertbench's patches
# (scripts/patches/hdf5-*.patch, fixes of bugs the fuzz targets found in the
# HDF5 C library) in target/patched/hdf5-metno-src, which Cargo.toml's
# [patch] section builds. Nothing is installed system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PERTBENCH_PYTHON:-python3}"
TOOLS="$PWD/target/build-tools"
CMAKE_PIN="cmake==3.31.6"
if ! { [ -x "$TOOLS/bin/cmake" ] && [ "$(cat "$TOOLS/.pin" 2>/dev/null)" = "$CMAKE_PIN" ]; }; then
  echo "setup: installing $CMAKE_PIN into $TOOLS" >&2
  rm -rf "$TOOLS"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "$CMAKE_PIN"
  "$TOOLS/bin/cmake" --version | head -1 >&2
  echo "$CMAKE_PIN" > "$TOOLS/.pin"
fi

# The HDF5 source crate, its sha256 as Cargo.lock pins it, patched.
SRC_CRATE="hdf5-metno-src-0.10.4"
SRC_SHA256="69c883c565498492954e344c482f8622525e58c7a71100dd9498c4940da82885"
PATCHED="$PWD/target/patched/hdf5-metno-src"
STAMP="$SRC_SHA256 $(cat scripts/patches/hdf5-*.patch | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$PATCHED/.pertbench-stamp" 2>/dev/null)" != "$STAMP" ]; then
  echo "setup: patching $SRC_CRATE into $PATCHED" >&2
  tmp="$(mktemp -d "$PWD/target/.tmp-hdf5-src-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  cached="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$SRC_CRATE.crate" 2>/dev/null | head -1 || true)"
  if [ -n "$cached" ]; then
    cp "$cached" "$tmp/src.crate"
  else
    curl -sSfL "https://static.crates.io/crates/hdf5-metno-src/$SRC_CRATE.crate" -o "$tmp/src.crate"
  fi
  echo "$SRC_SHA256  $tmp/src.crate" | sha256sum -c --quiet -
  mkdir "$tmp/src"
  tar xzf "$tmp/src.crate" -C "$tmp/src" --strip-components=1
  for p in scripts/patches/hdf5-*.patch; do
    patch -s -p1 -d "$tmp/src" < "$p"
  done
  # tar keeps the archive's times: a newer build.rs makes Cargo rebuild
  # the library when the patches change.
  touch "$tmp/src/build.rs"
  echo "$STAMP" > "$tmp/src/.pertbench-stamp"
  rm -rf "$PATCHED"
  mkdir -p "$(dirname "$PATCHED")"
  mv "$tmp/src" "$PATCHED"
fi
