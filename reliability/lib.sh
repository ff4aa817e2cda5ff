# Helpers shared by the reliability scripts: build, start a server, sample it.
# Source it; it cds to the repository root and cleans up on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BINARY=$ROOT/target/release/smol-toy
WORK=$(mktemp -d /tmp/smol-toy-reliability.XXXXXX)
CHILDREN=()

# Stops what the script started: TERM first, so that nginx takes its workers along.
cleanup() {
    for pid in "${CHILDREN[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${CHILDREN[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

build() {
    cargo build --release --quiet
}

# need COMMAND PACKAGE: installs the Debian package if COMMAND is missing.
need() {
    command -v "$1" >/dev/null && return
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}

# start_server NAME [OPTIONS...]: starts the release binary on a free loopback port
# (or $PORT) with RUST_LOG=warn; sets SERVER_PID and SERVER_PORT. Its stderr is
# $WORK/NAME.log, or $SERVER_STDERR. Fails if the server exits at once (say, its
# port is taken).
start_server() {
    local name=$1
    shift
    RUST_LOG=${RUST_LOG:-warn} "$BINARY" --host 127.0.0.1 --port "${PORT:-0}" "$@" \
        >"$WORK/$name.out" 2>"${SERVER_STDERR:-$WORK/$name.log}" &
    SERVER_PID=$!
    CHILDREN+=("$SERVER_PID")
    for _ in $(seq 100); do
        if grep -qs "listening on https\?://" "$WORK/$name.out"; then
            SERVER_PORT=$(sed -n '1s|.*listening on https\?://[^ ]*:\([0-9]*\).*|\1|p' "$WORK/$name.out")
            return
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    echo "server $name did not start:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
}

# tls_option [ARG]: with ARG --tls, makes a self-signed certificate for localhost and
# 127.0.0.1 in $WORK and sets TLS_ARGS to the server options that serve it and
# CLIENT_TLS to toyclient.py's; both are empty otherwise.
tls_option() {
    TLS_ARGS=()
    CLIENT_TLS=()
    [ "${1:-}" = --tls ] || return 0
    need openssl openssl
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    TLS_ARGS=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
    CLIENT_TLS=(--tls)
}

# wait_for_line FILE TEXT SECONDS: waits until FILE contains TEXT.
wait_for_line() {
    for _ in $(seq $(($3 * 20))); do
        grep -q "$2" "$1" 2>/dev/null && return
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1; it ends:" >&2
    tail -n 5 "$1" >&2
    exit 1
}

# wrk_summary FILE: reads wrk's output in FILE into WRK_REQUESTS, WRK_NON2XX and
# WRK_ERRORS (empty when there were none) and WRK_P99 (with --latency).
wrk_summary() {
    WRK_REQUESTS=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1")
    WRK_NON2XX=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' "$1")
    WRK_ERRORS=$(grep "Socket errors" "$1" || true)
    WRK_P99=$(awk '$1 == "99%" {print $2}' "$1")
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
open_fds() { ls "/proc/$1/fd" | wc -l; }
# CPU time of a process (all its threads), in milliseconds, the way the benchmark
# measures it (bench/toybench/procfs.py: the scheduler's nanosecond counters).
cpu_ms() { echo $(($(python3 "$ROOT/bench/toybench/procfs.py" cpu-ns "$1") / 1000000)); }

# json_field FILE EXPRESSION: evaluates a Python expression over the JSON in FILE (as j).
json_field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# refuses_connections PORT: succeeds if a new connection to PORT is refused.
refuses_connections() {
    python3 - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
PY
}

# sigterm_once_counted URL NAME COUNT TRIES: waits until the metric NAME at URL
# (`/metrics` over http or https) reaches COUNT, or TRIES × 50 ms, then sends
# SIGTERM to the server and waits for it; sets OPENED (the count seen), SERVER_EXIT
# (its exit code) and STOP_ELAPSED (seconds from the signal to the exit).
sigterm_once_counted() {
    for _ in $(seq "$4"); do
        OPENED=$(curl -sSk "$1/metrics" | sed -n "s/^$2 //p")
        [ "${OPENED:-0}" -ge "$3" ] && break
        sleep 0.05
    done
    local signalled exited
    signalled=$(date +%s.%N)
    kill -TERM "$SERVER_PID"
    SERVER_EXIT=0
    wait "$SERVER_PID" || SERVER_EXIT=$?
    exited=$(date +%s.%N)
    STOP_ELAPSED=$(python3 -c "print(round($exited - $signalled, 3))")
}
