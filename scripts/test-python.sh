#!/usr/bin/env bash
# Builds the Python bindings (python/) into a virtual environment and runs their tests: the
# second half of README's test command (issue #15).
#
# The environment ($PIMTL_PY_VENV, default target/py-venv) gets the test requirements from PyPI
# (python/requirements-test.txt: maturin, numpy, gymnasium, pytest, ray), then the package itself
# with `pip install ./python`, exactly as a user installs it. The extension is compiled in the
# crate's target folder (CARGO_TARGET_DIR), so it reuses what `cargo test --release` built.
# With PIMTL_PY_TORCH=1 torch is installed too and the PyTorch example runs as a test.
#
# Usage: bash scripts/test-python.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${PIMTL_PY_VENV:-$ROOT/target/py-venv}"
PYTHON="${PYTHON:-python3}"
PIP=(--disable-pip-version-check -q)

command -v "$PYTHON" >/dev/null 2>&1 || { echo "test-python: $PYTHON not found" >&2; exit 1; }
command -v cargo >/dev/null 2>&1 || { echo "test-python: cargo not found (the extension is built from source)" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install "${PIP[@]}" -r python/requirements-test.txt
if [ "${PIMTL_PY_TORCH:-0}" = "1" ]; then
    "$VENV/bin/pip" install "${PIP[@]}" torch
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
"$VENV/bin/pip" install "${PIP[@]}" --force-reinstall --no-deps ./python
cd python/tests
export PIMTL_DATA_DIR="${PIMTL_DATA_DIR:-$ROOT/data}"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
