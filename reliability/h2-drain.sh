#!/usr/bin/env bash
# Graceful shutdown with HTTP/2 streams in flight: bash reliability/h2-drain.sh [STREAMS]
# (default 2000). h2load opens STREAMS /toy streams (the wait set to 3 s) on 20
# cleartext HTTP/2 connections, 100 at a time on each; once they are all sent, the
# server gets SIGTERM. Each connection then gets GOAWAY, and its streams go on.
# Passes if every stream gets a 200 and the process exits 0 within its shutdown
# timeout.
source "$(dirname "$0")/lib.sh"
streams=${1:-2000}
need h2load nghttp2-client
build
start_server h2-drain --delay 3s --shutdown-timeout 10s
connections=20
timeout 60 h2load -c "$connections" -m $((streams / connections)) -n "$streams" \
    "http://127.0.0.1:$SERVER_PORT/toy" >"$WORK/h2load.out" 2>&1 &
client=$!
CHILDREN+=("$client")
# Every stream is open once the server counts them all.
sigterm_once_counted "http://127.0.0.1:$SERVER_PORT" smol_toy_http2_streams_total "$streams" 200
wait "$client" || true
grep -E "^requests:|^status codes:|^finished in" "$WORK/h2load.out"
echo "server: exit code $SERVER_EXIT, ${STOP_ELAPSED} s after SIGTERM, with ${OPENED:-?} streams opened"
if grep -q "$streams succeeded, 0 failed, 0 errored" "$WORK/h2load.out" &&
    grep -q "status codes: $streams 2xx" "$WORK/h2load.out" && [ "$SERVER_EXIT" = 0 ] &&
    python3 -c "import sys; sys.exit(0 if $STOP_ELAPSED < 10 else 1)"; then
    echo "h2-drain: PASS ($streams of $streams HTTP/2 streams in flight answered 200, exit 0)"
else
    cat "$WORK/h2load.out" >&2
    echo "h2-drain: FAIL" >&2
    exit 1
fi
