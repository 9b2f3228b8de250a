#!/usr/bin/env bash
# Runs the example (Tiltfile.example) on this machine: installs what is missing, starts a
# private Docker daemon and a local registry when they are not running (the local dockerd and
# registry of scripts/test-services.sh, with the busybox base image the example's Dockerfiles
# start FROM), builds lilt, and runs `lilt up -f Tiltfile.example`. Stopping it (Ctrl-C)
# removes the example's containers (`lilt down`) and stops the daemons it started.
#
#   bash scripts/example.sh                              # Docker Compose, or Kubernetes when
#                                                        # the kubeconfig has a current context
#   bash scripts/example.sh --namespace dev-$USER -- --target k8s --registry localhost:5000
#
# Arguments go to `lilt up`; those after `--` are the Tiltfile's (see Tiltfile.example).
# LILT_KEEP_SERVICES=1 leaves the daemons running on exit (the next start is then instant).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_packages
require_cargo

dir="${LILT_SERVICES_DIR:-/tmp/lilt-svc}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
services() { $sudo env "LILT_SERVICES_DIR=$dir" bash scripts/test-services.sh "$@"; }

# Running already (a test run or an earlier example left them up): use them, leave them up.
started=no
if ! { [ -f "$dir/env" ] && curl -fsS --max-time 3 --unix-socket "$dir/docker.sock" http://d/_ping >/dev/null 2>&1; }; then
  started=yes
fi

# Tiltfile args (after `--`) for `lilt down`, which must see the same target.
tiltfile_args=()
seen=no
for arg in "$@"; do
  if [ "$seen" = yes ]; then tiltfile_args+=("$arg"); elif [ "$arg" = -- ]; then seen=yes; fi
done

lilt_started=no
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ "$lilt_started" = yes ]; then
    echo "example: removing the example's containers (lilt down)" >&2
    ./target/release/lilt down -f Tiltfile.example -- "${tiltfile_args[@]}" >&2 || true
  fi
  if [ "$started" = yes ] && [ "${LILT_KEEP_SERVICES:-}" != 1 ]; then
    echo "example: stopping the Docker daemon and registry it started" >&2
    services stop || true
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$started" = yes ]; then echo "example: starting a Docker daemon and a registry ($dir)" >&2; fi
services start
# shellcheck source=/dev/null # written by test-services.sh start
source "$dir/env"
# Only this daemon: the user's own Docker settings must not send the example elsewhere.
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_HOST="$LILT_TEST_DOCKER_HOST"
# The example's Dockerfiles start FROM this name (no image can come from the internet).
docker tag "$LILT_TEST_BASE_IMAGE" lilt-example/busybox:latest

cargo build --release -p lilt
echo "example: Docker daemon $DOCKER_HOST, registry $LILT_TEST_REGISTRY" >&2
lilt_started=yes
# Not exec: the trap above cleans up after lilt exits.
./target/release/lilt up -f Tiltfile.example "$@"
