#!/usr/bin/env bash
# Builds the pinned Python environments the tests run the field's own
# writers in (anndata releases, ...), once: target/venvs/<name> from
# crates/cli/tests/conformance/venvs/<name>.txt, rebuilt only when that file
# changes (its sha256 is stamped inside). Needs python3 with venv and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PERTBENCH_PYTHON:-python3}"
DEST="${PERTBENCH_VENVS:-$PWD/target/venvs}"
mkdir -p "$DEST"
for req in crates/cli/tests/conformance/venvs/*.txt; do
  name="$(basename "$req" .txt)"
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$DEST/$name/.requirements-sha256" ] && [ "$(cat "$DEST/$name/.requirements-sha256")" = "$sum" ]; then
    continue
  fi
  echo "venvs: building $name" >&2
  # A first line `# python: X.Y` asks for that Python (found on PATH or
  # under pyenv); otherwise $PY.
  py="$PY"
  want="$(sed -n '1s/^# python: \([0-9.]*\).*/\1/p' "$req")"
  if [ -n "$want" ]; then
    py="$(command -v "python$want" || true)"
    if [ -z "$py" ] || ! "$py" -c '' 2>/dev/null; then
      py="$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$want".*/bin/python"$want" 2>/dev/null | tail -1)"
    fi
    if [ -z "$py" ]; then
      echo "venvs: $name needs Python $want, which is not installed" >&2
      exit 1
    fi
  fi
  # The stamp, written last, marks a complete environment.
  rm -rf "$DEST/$name"
  "$py" -m venv "$DEST/$name"
  "$DEST/$name/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
  echo "$sum" > "$DEST/$name/.requirements-sha256"
done
