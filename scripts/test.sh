#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what the tests need, checks formatting
# and lints, runs every test, and stops whatever it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_packages
require_cargo

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
