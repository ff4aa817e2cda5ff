#!/usr/bin/env bash
# Fuzzes the protocols: bash fuzz/run.sh [SECONDS] (default 60), each target for
# SECONDS: `connection` (HTTP/1.x), `http2` (bytes after the preface) and `http3`
# (the frame cap, and a stream's request head read by the shared rules).
# Installs cargo-fuzz if missing, writes the seed corpus from the conformance table,
# and runs libFuzzer on stable Rust (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly-only sanitizer flags). Crashes land in fuzz/artifacts/connection/; the
# script fails if there is one.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
python3 seed-corpus.py
export RUSTC_BOOTSTRAP=1
for target in connection http2 http3; do
    cargo fuzz build "$target"
    cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 |
        grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|Done|stat::number_of_executed_units|stat::peak_rss)|ERROR|panicked|SUMMARY" || true
    if compgen -G "artifacts/$target/*" >/dev/null; then
        echo "fuzz: crash inputs in fuzz/artifacts/$target/:" >&2
        ls "artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzz: no crash in ${seconds} s per target"
