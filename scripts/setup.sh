#!/usr/bin/env bash
# Sets up a fresh machine for pimtl: checks the Rust toolchain and its components, then fetches
# the crates. Data sets (added by the portfolio and federated experiments) are fetched here too,
# from package registries only. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' not found: $2" >&2; exit 1; }; }
need cargo "install Rust (rustup) first"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

cargo fetch --locked
# Stock data for the portfolio experiment (PyPI package universal-portfolios, checksummed).
bash scripts/fetch-data.sh
echo "setup: ok"
