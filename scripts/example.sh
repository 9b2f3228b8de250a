#!/usr/bin/env bash
# Builds lilt and runs it on Tiltfile.example: the whole dev loop on a small multi-service
# project. Extra arguments go to `lilt up` (for example `--stream`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_packages
require_cargo
cargo build --release -p lilt
exec ./target/release/lilt up -f Tiltfile.example "$@"
