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
# Images for the meta-federated-learning experiment: Fashion-MNIST from the Debian package
# dataset-fashion-mnist (gzipped IDX files in /usr/share/datasets/fashion-mnist/).
if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  echo "setup: dataset-fashion-mnist already installed"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian package dataset-fashion-mnist (apt-get update && apt-get install -y)"
  apt-get update && apt-get install -y dataset-fashion-mnist
else
  echo "setup: skipping Fashion-MNIST: needs root and apt-get; run" \
    "'sudo apt-get install -y dataset-fashion-mnist' or pass a directory holding MNIST" >&2
fi
echo "setup: ok"
