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

# The dashboard's JavaScript unit tests (Node's built-in runner; no npm packages).
if ! command -v node >/dev/null 2>&1; then
  echo "node not found: install Node.js (Debian package nodejs) to run web/test" >&2
  exit 1
fi
node --test web/test/

if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
