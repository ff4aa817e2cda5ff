#!/usr/bin/env bash
# Benchmarks smol-toy side by side with an axum/tokio peer and the original Flask app
# (development server and gunicorn), over HTTP and (smol-toy-tls, axum-tls: axum-server,
# both with rustls on ring) over HTTPS, and writes bench/results/latest.{md,json,svg}.
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

# The HTTPS servers' certificate, self-signed, made once.
if [ ! -f bench/.certs/key.pem ]; then
    mkdir -p bench/.certs
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout bench/.certs/key.pem -out bench/.certs/cert.pem 2>/dev/null
fi

echo "== building smol-toy and the axum peer (release)"
cargo build --release --quiet
cargo build --release --quiet --manifest-path bench/peers/axum-toy/Cargo.toml

# 10,000 connections need as many descriptors in wrk and in each server.
ulimit -n "$(ulimit -Hn)"
exec python3 bench/bench.py --command "bash bench/run.sh $*" "$@"
