#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what the tests need, checks formatting
# and lints, starts the Docker test services (scripts/test-services.sh), runs every test, and
# stops whatever it started.
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

# The Docker services the tests use (two dockerds, two registries, a base image): started here,
# stopped whatever way this script exits. LILT_KEEP_SERVICES=1 leaves them running for the next
# run (a warm start then takes well under a second).
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
services() { $sudo env "LILT_SERVICES_DIR=${LILT_SERVICES_DIR:-}" bash scripts/test-services.sh "$@"; }
if [ "${LILT_KEEP_SERVICES:-}" != 1 ]; then
  trap 'services stop' EXIT
fi
services start
# shellcheck source=/dev/null # written by test-services.sh start
source "${LILT_SERVICES_DIR:-/tmp/lilt-svc}/env"

if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
