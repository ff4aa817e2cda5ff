#!/usr/bin/env bash
# Where a waiting HTTP/2 stream's bytes go, in smol-toy and in the axum peer: each
# server runs under heaptrack while `h2load -c 100 -m 100 -n 10000` holds 10,000
# `/toy` streams waiting at once (h2c), and bench/heap_sites.py sorts the heap's
# peak by owner, in bytes per stream. smol-toy is built with the system allocator
# (`--features system-allocator`), as axum runs, so that heaptrack sees every
# allocation; both keep their debug info. Takes about three minutes.
#
#   bash bench/heap-per-stream.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in heaptrack:heaptrack h2load:nghttp2-client; do
    command -v "${tool%%:*}" >/dev/null || {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${tool##*:}" >/dev/null
    }
done
export CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=1
CARGO_TARGET_DIR=target/heap cargo build --release --quiet --features system-allocator
CARGO_TARGET_DIR=target/heap cargo build --release --quiet \
    --manifest-path bench/peers/axum-toy/Cargo.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# profile NAME PORT COMMAND...: the server under heaptrack, the load, the report.
profile() {
    local name=$1 port=$2
    shift 2
    heaptrack -o "$work/$name" "$@" >"$work/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
        sleep 0.1
    done
    h2load -c 100 -m 100 -n 10000 "http://127.0.0.1:$port/toy" | grep -E "^requests:"
    pkill -TERM -f -- "--port $port|axum-toy $port" || true
    wait "$pid" || true
    heaptrack_print -f "$work/$name.zst" --print-peaks 1 --print-allocators 0 \
        --print-temporary 0 --print-leaks 0 -n 60 --merge-backtraces 0 \
        >"$work/$name.peaks" 2>/dev/null
    echo "== $name"
    heaptrack_print -f "$work/$name.zst" 2>/dev/null | grep "peak heap memory"
    python3 bench/heap_sites.py "$work/$name.peaks" 10000
}
RUST_LOG=warn profile smol-toy 4631 target/heap/release/smol-toy --host 127.0.0.1 --port 4631
profile axum 4632 target/heap/release/axum-toy 4632 1000
