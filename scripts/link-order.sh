#!/usr/bin/env bash
# Regenerates link-order.txt: the functions that `lilt --version` and
# `lilt alpha tiltfile-result` run, which the release link places next to each other
# (build.rs). Start-up code is otherwise spread over the whole 9 MB text
# section, and the kernel maps code in 64 KB blocks around every page it runs, so a
# small Tiltfile's peak RSS was two thirds binary. Run it after dependency upgrades or
# large changes; a stale list only loses some of the gain (see docs/performance.md).
# Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p lilt
cargo bench -p lilt-tiltfile --bench evaluate --no-run
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
LILT_BENCH_PROJECT="$tmp/project" cargo bench -p lilt-tiltfile --bench evaluate >/dev/null
# Profile a copy: the target directory may be shared with other checkouts.
lilt="$tmp/lilt"
cp "$target/release/lilt" "$lilt"
profile() {
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$tmp/cg.$1" "${@:2}" \
        >/dev/null 2>&1 || true
}
profile 1 "$lilt" --version
profile 2 "$lilt" alpha tiltfile-result -f crates/tiltfile/benches/fixtures/small/Tiltfile
profile 3 "$lilt" alpha tiltfile-result -f "$tmp/project/Tiltfile"
# Callgrind names an object or function in full once, then by number: keep the names of
# the functions that ran in the lilt binary, in first-seen order.
awk -v bin="$lilt" '
    match($0, /^c?ob=\([0-9]+\)/) {
        id = substr($0, 1, RLENGTH); sub(/^c?ob=/, "", id)
        name = substr($0, RLENGTH + 2)
        if (name != "") obj[FILENAME, id] = name
        if ($0 ~ /^ob=/) cur = obj[FILENAME, id]
        next
    }
    match($0, /^c?fn=\([0-9]+\)/) {
        id = substr($0, 1, RLENGTH); sub(/^c?fn=/, "", id)
        name = substr($0, RLENGTH + 2)
        if (name != "") fn[FILENAME, id] = name
        if ($0 ~ /^fn=/) {
            f = fn[FILENAME, id]
            sub(/\047[0-9]+$/, "", f)  # drop the recursion-depth mark (quote, digits)
            if (cur == bin && f ~ /^_/ && !(f in seen)) { seen[f] = 1; print f }
        }
    }
' "$tmp/cg.1" "$tmp/cg.2" "$tmp/cg.3" > link-order.txt
echo "link-order.txt: $(wc -l < link-order.txt) functions"
