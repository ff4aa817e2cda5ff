#!/usr/bin/env bash
# Benchmarks smol-toy side by side with an axum/tokio peer and the original Flask app
# (development server and gunicorn), and writes bench/results/latest.{md,json,svg}.
#
#   bash bench/run.sh                 # 3 rounds, 10 s per run: about 10 minutes
#   bash bench/run.sh --rounds 1 --seconds 3 --servers smol-toy,axum   # a quick look
#
# Arguments go to bench/bench.py (--help lists them). Installs what it needs: wrk,
# h2load, gnuplot (Debian packages), Flask and gunicorn (in bench/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in wrk:wrk h2load:nghttp2-client gnuplot:gnuplot-nox; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x bench/.venv/bin/gunicorn ]; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q -r bench/flask/requirements.txt
fi

echo "== building smol-toy and the axum peer (release)"
cargo build --release --quiet
cargo build --release --quiet --manifest-path bench/peers/axum-toy/Cargo.toml

# 10,000 connections need as many descriptors in wrk and in each server.
ulimit -n "$(ulimit -Hn)"
exec python3 bench/bench.py --command "bash bench/run.sh $*" "$@"
