#!/usr/bin/env bash
# Starts, stops and describes the Docker services lilt's tests run against: a local dockerd on
# a unix socket, a "remote" dockerd on TLS TCP (127.0.0.2:2376), a plain registry
# (127.0.0.1:5100), a registry with htpasswd auth (127.0.0.1:5101), and a busybox base image
# imported into both daemons. Everything lives under one state dir, so it never touches a
# system dockerd/containerd.
#
#   bash scripts/test-services.sh start   # idempotent; safe to run from parallel test processes
#   bash scripts/test-services.sh stop    # stops all it started, leaves no processes or mounts
#   bash scripts/test-services.sh env     # prints the env file (export lines) tests read
#   bash scripts/test-services.sh purge   # stop, then delete the state dir (images, certs, data)
set -euo pipefail

DIR="${LILT_SERVICES_DIR:-/tmp/lilt-svc}"
REMOTE_HOST_ADDR=127.0.0.2:2376
REGISTRY=127.0.0.1:5100
AUTH_REGISTRY=127.0.0.1:5101
AUTH_USER=lilt
BASE_IMAGE=lilt-test/busybox:latest

# The user's own docker settings must not redirect our health checks or imports elsewhere.
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

log() { echo "test-services: $*" >&2; }

# Fails naming the service and its log, with the log's tail, so a broken start is diagnosable
# from a CI transcript alone.
fail() {
  local service="$1" msg="$2" logfile="${3:-}"
  log "$service failed: $msg"
  if [ -n "$logfile" ]; then
    log "see $logfile (last lines follow)"
    # Only the latest start's lines: the log is appended across runs.
    [ -f "$logfile" ] && awk '/^--- .* test-services.sh starting / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$logfile" |
      tail -n 25 | sed 's/^/    /' >&2
  fi
  exit 1
}

check_dir() {
  case "$DIR" in
    /*) ;;
    *) fail "state dir" "LILT_SERVICES_DIR must be an absolute path (got '$DIR')" ;;
  esac
  case "$DIR" in
    *[[:space:]\'\"\\\$]*) fail "state dir" "LILT_SERVICES_DIR must not contain spaces, quotes, \\ or \$ (got '$DIR')" ;;
  esac
  # Unix socket paths are capped at 108 bytes, and containerd/dockerd nest sockets a few levels
  # below their roots, so a long state dir breaks them in confusing ways later on.
  if [ "${#DIR}" -gt 40 ]; then
    fail "state dir" "LILT_SERVICES_DIR is ${#DIR} bytes; keep it at most 40 (unix sockets are limited to 108)"
  fi
}

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    fail "setup" "dockerd needs root: run: sudo bash scripts/test-services.sh $1"
  fi
}

require_tools() {
  local missing=() t
  for t in dockerd containerd ctr containerd-shim-runc-v2 runc docker docker-registry busybox htpasswd openssl curl flock setsid; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    fail "setup" "missing tools: ${missing[*]} (install: apt-get install docker.io docker-registry busybox-static apache2-utils openssl curl; or run scripts/test.sh, which installs them)"
  fi
}

# True when PID is alive and one of ours: its command line names our state dir. This guards
# against a stale pid file whose pid now belongs to an unrelated process.
is_ours() {
  local pid="$1"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

# True while PID runs. A zombie counts as gone: our daemons are reparented to init, which may
# reap them only seconds after they exit.
alive() {
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

not_alive() { ! alive "$1"; }

pid_from() { if [ -f "$1" ]; then tr -dc '0-9' <"$1"; fi; }

# Every process of ours still alive: daemons and the containerd shims, found by executable name
# and our state dir in the command line (so nothing started by anyone else ever matches).
our_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(basename "$(readlink "$p/exe" 2>/dev/null || true)")"
    case "$exe" in
      dockerd | containerd | containerd-shim* | docker-registry | docker-proxy | runc) ;;
      *) continue ;;
    esac
    is_ours "${p#/proc/}" && echo "${p#/proc/}"
  done
  return 0
}

# Waits up to $1 seconds for a command to succeed.
wait_for() {
  local secs="$1"; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Starts a daemon and waits until CHECK (a real request) passes, failing at once if the daemon
# exits first. The daemon runs in its own session, so a Ctrl-C in a terminal or a test runner
# killing a timed-out test's process group cannot take down daemons other tests share. All its
# fds go to its log or are closed: fd 9 (our flock) must not be held by a daemon, and a caller
# reading our stdout to EOF (a test harness) must not hang on it.
# usage: run_daemon NAME "WHAT" "WHERE" write-pidfile|own-pidfile SECS CHECK [CHECK_ARGS...] -- CMD...
run_daemon() {
  local name="$1" what="$2" where="$3" pidfile="$4" secs="$5" check="$6"
  shift 6
  local check_args=()
  while [ "$1" != -- ]; do check_args+=("$1"); shift; done
  shift
  local logfile="$DIR/$name.log"
  # Logs are appended (the last run's failure stays readable) but not without bound.
  if [ -f "$logfile" ] && [ "$(stat -c %s "$logfile")" -gt $((8 * 1024 * 1024)) ]; then
    mv -f "$logfile" "$logfile.old"
  fi
  echo "--- $(date -u +%FT%TZ) test-services.sh starting $what" >>"$logfile"
  setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  local pid=$!
  # dockerd writes its own pid file (and refuses to start if it names a live process).
  [ "$pidfile" = write-pidfile ] && echo "$pid" >"$DIR/$name.pid"
  local deadline=$((SECONDS + secs))
  until "$check" "${check_args[@]}" >/dev/null 2>&1; do
    alive "$pid" || fail "$what" "exited while starting (nothing answering on $where)" "$logfile"
    [ "$SECONDS" -lt "$deadline" ] || fail "$what" "not answering on $where after ${secs}s" "$logfile"
    sleep 0.2
  done
}

# --- health checks: each one a real request to the service ---

# ctr waits 10s to dial a socket that is not there, so look for the socket first.
containerd_ok() {
  [ -S "$DIR/$1/containerd.sock" ] &&
    timeout 10 ctr --address "$DIR/$1/containerd.sock" --timeout 3s version >/dev/null 2>&1
}
local_docker_ok() { [ "$(curl -fsS --max-time 3 --unix-socket "$DIR/docker.sock" http://d/_ping 2>/dev/null)" = OK ]; }
remote_docker_ok() {
  [ "$(curl -fsS --max-time 3 --cacert "$DIR/certs/client/ca.pem" --cert "$DIR/certs/client/cert.pem" \
    --key "$DIR/certs/client/key.pem" "https://$REMOTE_HOST_ADDR/_ping" 2>/dev/null)" = OK ]
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" 2>/dev/null || true; }
registry_ok() { [ "$(http_code "http://$REGISTRY/v2/")" = 200 ]; }
auth_registry_ok() {
  [ "$(http_code "http://$AUTH_REGISTRY/v2/")" = 401 ] &&
    [ "$(http_code -u "$AUTH_USER:$(cat "$DIR/auth-password")" "http://$AUTH_REGISTRY/v2/")" = 200 ]
}

# Stops a stale instance (alive but not answering) before a restart, so two never fight over
# one socket or data root.
kill_stale() {
  local pid
  pid="$(pid_from "$1")"
  if is_ours "$pid"; then
    log "stopping unresponsive pid $pid ($1)"
    kill "$pid" 2>/dev/null || true
    wait_for 20 not_alive "$pid" || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# --- services ---

start_containerd() {
  local name="$1" root="$DIR/$1"
  containerd_ok "$name" && return 0
  kill_stale "$DIR/$name.pid"
  mkdir -p "$root"
  cat >"$DIR/$name.toml" <<EOF
# Written by scripts/test-services.sh: a containerd private to one test dockerd.
version = 2
root = "$root/root"
state = "$root/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$root/containerd.sock"
[ttrpc]
  address = "$root/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$root/opt"
EOF
  run_daemon "$name" "containerd ($name)" "$root/containerd.sock" write-pidfile 30 containerd_ok "$name" -- \
    containerd --config "$DIR/$name.toml"
}

# Common dockerd flags: no bridge, no iptables, no sysctl changes (the host's network is not
# ours to change; test containers use --network host), its own containerd and config file (so
# a system /etc/docker/daemon.json cannot leak in).
dockerd_args() {
  local name="$1" cname="$2"
  echo "{}" >"$DIR/$name.json"
  printf '%s\n' --data-root "$DIR/$name" --exec-root "$DIR/x${name#d}" --pidfile "$DIR/$name.pid" \
    --containerd "$DIR/$cname/containerd.sock" --config-file "$DIR/$name.json" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --userland-proxy=false
}

start_local_docker() {
  start_containerd c1
  local_docker_ok && return 0
  kill_stale "$DIR/d1.pid"
  local args
  mapfile -t args < <(dockerd_args d1 c1)
  run_daemon d1 "local dockerd" "unix://$DIR/docker.sock" own-pidfile 60 local_docker_ok -- \
    dockerd -H "unix://$DIR/docker.sock" "${args[@]}"
}

make_certs() {
  local c="$DIR/certs"
  if [ -f "$c/client/key.pem" ] && [ -f "$c/server-key.pem" ] &&
    openssl x509 -checkend 86400 -noout -in "$c/server-cert.pem" >/dev/null 2>&1 &&
    openssl x509 -checkend 86400 -noout -in "$c/client/cert.pem" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$c"
  mkdir -p "$c/client"
  (
    set -e
    cd "$c"
    umask 077
    # A throwaway CA for this state dir only; nothing outside it trusts this CA.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout ca-key.pem -out ca.pem -subj "/CN=lilt test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout server-key.pem -out server.csr -subj "/CN=127.0.0.2"
    printf 'subjectAltName=IP:127.0.0.2\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" \
      -days 3650 -extfile server.ext -out server-cert.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout client/key.pem -out client.csr -subj "/CN=lilt test client"
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" \
      -days 3650 -extfile client.ext -out client/cert.pem
    cp ca.pem client/ca.pem
    rm -f server.csr client.csr server.ext client.ext
    # Certificates are public; keys stay 0600.
    chmod 644 ca.pem server-cert.pem client/ca.pem client/cert.pem
    chmod 755 . client
  ) >"$DIR/certs.log" 2>&1 || fail "certificates" "openssl failed" "$DIR/certs.log"
}

start_remote_docker() {
  make_certs
  start_containerd c2
  remote_docker_ok && return 0
  kill_stale "$DIR/d2.pid"
  local args c="$DIR/certs"
  mapfile -t args < <(dockerd_args d2 c2)
  run_daemon d2 "remote dockerd" "tcp://$REMOTE_HOST_ADDR (TLS)" own-pidfile 60 remote_docker_ok -- \
    dockerd -H "tcp://$REMOTE_HOST_ADDR" --tlsverify --tlscacert "$c/ca.pem" \
    --tlscert "$c/server-cert.pem" --tlskey "$c/server-key.pem" "${args[@]}"
}

write_registry_config() {
  local name="$1" addr="$2" auth="$3"
  cat >"$DIR/$name.yml" <<EOF
# Written by scripts/test-services.sh.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/$name
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  secret: $(openssl rand -hex 16)
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  if [ "$auth" = yes ]; then
    cat >>"$DIR/$name.yml" <<EOF
auth:
  htpasswd:
    realm: lilt-test
    path: $DIR/htpasswd
EOF
  fi
}

start_registry() {
  local name="$1" addr="$2" auth="$3" check="$4" what="$5"
  "$check" && return 0
  kill_stale "$DIR/$name.pid"
  mkdir -p "$DIR/$name"
  write_registry_config "$name" "$addr" "$auth"
  run_daemon "$name" "$what" "http://$addr/v2/ (port taken by another process?)" write-pidfile 30 "$check" -- \
    docker-registry serve "$DIR/$name.yml"
}

make_password() {
  if [ ! -s "$DIR/auth-password" ] || [ ! -s "$DIR/htpasswd" ]; then
    (umask 077 && openssl rand -hex 16 >"$DIR/auth-password")
    # The registry only accepts bcrypt entries.
    htpasswd -Bbn "$AUTH_USER" "$(cat "$DIR/auth-password")" >"$DIR/htpasswd" 2>"$DIR/htpasswd.log" ||
      fail "auth registry" "htpasswd failed" "$DIR/htpasswd.log"
    chmod 644 "$DIR/auth-password"
  fi
}

# The base image: busybox-static plus a symlink per applet, imported under a label holding the
# busybox binary's digest, so an upgraded busybox-static re-imports instead of going stale.
build_rootfs_tar() {
  local tarball="$DIR/busybox-rootfs.tar" sum="$1"
  [ -f "$tarball" ] && [ "$(cat "$DIR/busybox-rootfs.sum" 2>/dev/null)" = "$sum" ] && return 0
  local root="$DIR/rootfs"
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev}
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  local applet
  while read -r applet; do
    [ -n "$applet" ] && [ "$applet" != bin/busybox ] && ln -sf /bin/busybox "$root/$applet"
  done < <(busybox --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  echo "$sum" >"$DIR/busybox-rootfs.sum"
  rm -rf "$root"
}

import_base_image() {
  local what="$1" sum="$2"; shift 2
  local have
  have="$(docker "$@" image inspect --format '{{index .Config.Labels "lilt.busybox.sha256"}}' "$BASE_IMAGE" 2>/dev/null || true)"
  [ "$have" = "$sum" ] && return 0
  docker "$@" import \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/sh"]' \
    --change "LABEL lilt.busybox.sha256=$sum" \
    "$DIR/busybox-rootfs.tar" "$BASE_IMAGE" >>"$DIR/import.log" 2>&1 ||
    fail "base image ($what)" "docker import of $BASE_IMAGE failed" "$DIR/import.log"
  return 1 # freshly imported: the caller smoke-tests it
}

start_base_image() {
  local sum
  sum="$(sha256sum "$(command -v busybox)" | cut -d' ' -f1)"
  build_rootfs_tar "$sum"
  if ! import_base_image "local dockerd" "$sum" -H "unix://$DIR/docker.sock"; then
    local out
    out="$(docker -H "unix://$DIR/docker.sock" run --rm --network host "$BASE_IMAGE" echo ok 2>>"$DIR/import.log" || true)"
    [ "$out" = ok ] || fail "base image (local dockerd)" "'docker run --rm --network host $BASE_IMAGE echo ok' printed '$out'" "$DIR/import.log"
  fi
  DOCKER_CERT_PATH="$DIR/certs/client" import_base_image "remote dockerd" "$sum" \
    --tlsverify -H "tcp://$REMOTE_HOST_ADDR" || true
}

write_env() {
  cat >"$DIR/env.tmp" <<EOF
export LILT_TEST_DOCKER_HOST=unix://$DIR/docker.sock
export LILT_TEST_REMOTE_DOCKER_HOST=tcp://$REMOTE_HOST_ADDR
export LILT_TEST_REMOTE_DOCKER_CERT_PATH=$DIR/certs/client
export LILT_TEST_REGISTRY=$REGISTRY
export LILT_TEST_AUTH_REGISTRY=$AUTH_REGISTRY
export LILT_TEST_AUTH_REGISTRY_USER=$AUTH_USER
export LILT_TEST_AUTH_REGISTRY_PASSWORD=$(cat "$DIR/auth-password")
export LILT_TEST_BASE_IMAGE=$BASE_IMAGE
export LILT_TEST_SERVICES_DIR=$DIR
EOF
  mv "$DIR/env.tmp" "$DIR/env"
}

lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/lock"
  flock 9
}

do_start() {
  check_dir
  require_root start
  require_tools
  lock
  start_local_docker
  start_remote_docker
  make_password
  start_registry r1 "$REGISTRY" no registry_ok "registry ($REGISTRY)"
  start_registry r2 "$AUTH_REGISTRY" yes auth_registry_ok "auth registry ($AUTH_REGISTRY)"
  start_base_image
  write_env
}

# Sends SIGTERM to a pid of ours and waits for it to go (then SIGKILL): dockerd stops its
# containers on the way down, so it gets the longest grace.
stop_pid() {
  local pid="$1" what="$2" grace="$3"
  is_ours "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  if ! wait_for "$grace" not_alive "$pid"; then
    log "$what (pid $pid) did not stop in ${grace}s; killing it"
    kill -9 "$pid" 2>/dev/null || true
    wait_for 10 not_alive "$pid" || log "$what (pid $pid) still alive"
  fi
}

# Kills the containers a daemon still runs: dockerd would otherwise give each one its 10s stop
# timeout on the way down, and test containers hold no state worth a graceful stop.
kill_containers() {
  local ids
  ids="$(timeout 10 docker "$@" ps -q 2>/dev/null || true)"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # one id per word
    timeout 30 docker "$@" kill $ids >/dev/null 2>&1 || true
  fi
}

do_stop() {
  check_dir
  [ -d "$DIR" ] || return 0
  require_root stop
  lock
  rm -f "$DIR/env"
  local name
  for name in r1 r2; do stop_pid "$(pid_from "$DIR/$name.pid")" "registry $name" 10; done
  local_docker_ok && kill_containers -H "unix://$DIR/docker.sock"
  remote_docker_ok && DOCKER_CERT_PATH="$DIR/certs/client" kill_containers --tlsverify -H "tcp://$REMOTE_HOST_ADDR"
  for name in d1 d2; do stop_pid "$(pid_from "$DIR/$name.pid")" "dockerd $name" 40; done
  for name in c1 c2; do stop_pid "$(pid_from "$DIR/$name.pid")" "containerd $name" 20; done
  # Leftovers: shims of containers dockerd could not stop, or daemons whose pid file was lost.
  local pid
  for pid in $(our_pids); do stop_pid "$pid" "leftover $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)" 10; done
  rm -f "$DIR"/{r1,r2,d1,d2,c1,c2}.pid "$DIR/docker.sock"
  # Mounts dockerd or containerd left under the state dir (overlay layers, shm, netns), deepest
  # first, so the dir can be deleted and a later start does not stack mounts.
  local mnt
  while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || log "could not unmount $mnt"
  done < <(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  local left
  left="$(our_pids)"
  if [ -n "$left" ]; then
    fail "stop" "processes still running: $left"
  fi
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  env)
    [ -f "$DIR/env" ] || fail "env" "$DIR/env does not exist: run: sudo bash scripts/test-services.sh start"
    cat "$DIR/env"
    ;;
  purge)
    do_stop
    exec 9>&-
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|stop|env|purge" >&2
    exit 2
    ;;
esac
