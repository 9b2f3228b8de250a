#!/usr/bin/env bash
# Shared helpers for scripts/example.sh and scripts/test.sh: installing the Debian packages
# lilt's examples and tests use, on a fresh machine, without asking.
set -euo pipefail

# Packages the tests and the example need. docker.io, docker-registry, busybox-static,
# apache2-utils (htpasswd) and curl back the Docker test services (scripts/test-services.sh:
# two dockerds, two registries, a busybox base image); docker-compose runs docker_compose resources;
# chromium and chromium-driver back the dashboard's browser tests and the
# browser button; kubectl (kustomize) and openssl back the Tiltfile tests (openssl also makes the
# test services' TLS certificates); nodejs runs the
# dashboard's unit tests (web/test); hyperfine and
# time measure the figures in docs/performance.md.
LILT_PACKAGES=(docker.io docker-registry busybox-static apache2-utils curl docker-compose chromium chromium-driver hyperfine time python3 git kubectl openssl nodejs)

# Installs whatever of LILT_PACKAGES is missing (needs root or sudo).
install_packages() {
  bash "$(dirname "${BASH_SOURCE[0]}")/install-helm.sh"
  local missing=()
  for pkg in "${LILT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Fails with a hint when there is no Rust toolchain.
require_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) and run this again" >&2
    exit 1
  fi
}
