#!/usr/bin/env bash
# Fuzzes the connection layer: bash fuzz/run.sh [SECONDS] (default 60).
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
cargo fuzz build connection
cargo fuzz run connection -- -max_total_time="$seconds" -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|Done|stat::number_of_executed_units|stat::peak_rss)|ERROR|panicked|SUMMARY" || true
if compgen -G "artifacts/connection/*" >/dev/null; then
    echo "fuzz: crash inputs in fuzz/artifacts/connection/:" >&2
    ls artifacts/connection >&2
    exit 1
fi
echo "fuzz: no crash in ${seconds} s"
