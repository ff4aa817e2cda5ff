#!/usr/bin/env bash
# A stalled log reader: bash reliability/log-stall.sh [SECONDS]
# The same release build, with the access log on (RUST_LOG=info), serves /healthz to
# wrk (1 thread, 16 connections, SECONDS each, default 3):
#   1. stderr to a file: the baseline;
#   2. stderr to a FIFO whose reader is alive but never reads (a stuck journald, a
#      terminal paused with Ctrl-S), twice, as the issue's user did;
#   3. a reader comes back: the "log sink was stalled" warning arrives, every line
#      is whole, and every request of a further wrk run has its access line;
#   4. a new server on a stalled FIFO gets SIGTERM: it exits 0 within the shutdown
#      timeout (2 s here) plus a second.
# Passes if each stalled run serves at least half the baseline's requests per
# second, /metrics counts dropped lines, and 3 and 4 hold.
source "$(dirname "$0")/lib.sh"
need wrk wrk
seconds=${1:-3}
build
export RUST_LOG=info

# rate NAME: wrk against the current server; prints requests per second.
rate() {
    wrk -t1 -c16 -d"${seconds}s" "http://127.0.0.1:$SERVER_PORT/healthz" >"$WORK/$1.wrk"
    wrk_summary "$WORK/$1.wrk"
    if [ -n "$WRK_NON2XX$WRK_ERRORS" ]; then
        echo "FAIL: $1: non-2xx '$WRK_NON2XX', errors '$WRK_ERRORS'" >&2
        exit 1
    fi
    echo $((WRK_REQUESTS / seconds))
}

# start_on_fifo NAME [OPTIONS...]: the server with stderr to the FIFO $WORK/NAME.fifo,
# held open by a reader that never reads.
start_on_fifo() {
    local name=$1
    shift
    mkfifo "$WORK/$name.fifo"
    sleep 600 <"$WORK/$name.fifo" &
    CHILDREN+=("$!")
    SERVER_STDERR=$WORK/$name.fifo start_server "$name" "$@"
}

dropped() {
    curl -s "http://127.0.0.1:$SERVER_PORT/metrics" |
        awk '$1 == "smol_toy_log_lines_dropped_total" {print $2}'
}

start_server to-file
to_file=$(rate to-file)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
echo "stderr to a file:     $to_file req/s"

start_on_fifo stalled
first=$(rate stalled-1)
second=$(rate stalled-2)
lost=$(dropped)
echo "stderr to a stalled FIFO: $first req/s, then $second req/s; $lost lines dropped"
for run in "$first" "$second"; do
    if [ $((run * 2)) -lt "$to_file" ]; then
        echo "FAIL: a stalled log reader slowed serving to $run req/s (a file: $to_file)" >&2
        exit 1
    fi
done
if [ "${lost:-0}" -eq 0 ]; then
    echo "FAIL: no dropped lines counted with a stalled reader" >&2
    exit 1
fi

# The reader comes back.
cat "$WORK/stalled.fifo" >"$WORK/stalled.log" &
CHILDREN+=("$!")
wait_for_line "$WORK/stalled.log" "log sink was stalled" 5
grep "log sink was stalled" "$WORK/stalled.log"
before=$(grep -c '"GET /healthz HTTP/1.1" 200' "$WORK/stalled.log")
after_run=$(rate reader-back)
wrk_summary "$WORK/reader-back.wrk"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
logged=$(($(grep -c '"GET /healthz HTTP/1.1" 200' "$WORK/stalled.log") - before))
cut=$(grep -cv '^\[20' "$WORK/stalled.log" || true)
echo "reader back: $after_run req/s; $WRK_REQUESTS answered, $logged access lines; $cut cut lines"
if [ "$cut" -ne 0 ] || [ "$logged" -lt "$WRK_REQUESTS" ]; then
    echo "FAIL: lines were cut or lost while the reader kept up" >&2
    exit 1
fi

start_on_fifo stopping --shutdown-timeout 2s
rate stopping >/dev/null
started=$(date +%s%N)
kill -TERM "$SERVER_PID"
code=0
wait "$SERVER_PID" || code=$?
took_ms=$((($(date +%s%N) - started) / 1000000))
echo "SIGTERM with a stalled reader: exit $code after $took_ms ms (shutdown timeout 2 s)"
if [ "$code" -ne 0 ] || [ "$took_ms" -gt 3000 ]; then
    echo "FAIL: shutdown with a stalled reader" >&2
    exit 1
fi
echo "PASS"
