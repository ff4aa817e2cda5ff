#!/usr/bin/env bash
# Graceful shutdown with HTTP/3 streams in flight: bash reliability/h3-drain.sh [STREAMS]
# (default 2000). 20 aioquic clients (tests/http3/aioquic_get.py) open STREAMS /toy
# streams (the wait set to 3 s) on 20 QUIC connections, STREAMS/20 on each; once
# the server counts them all, it gets SIGTERM. Each connection then gets GOAWAY,
# its streams go on, and it closes with H3_NO_ERROR.
# Passes if every stream gets a 200 and the process exits 0 within its shutdown
# timeout.
source "$(dirname "$0")/lib.sh"
streams=${1:-2000}
connections=20
python3 -c 'import aioquic' 2>/dev/null || pip install -q aioquic
build
tls_option --tls
start_server h3-drain "${TLS_ARGS[@]}" --delay 3s --shutdown-timeout 10s
wait_for_line "$WORK/h3-drain.out" "(HTTP/3, UDP)" 5
clients=()
for index in $(seq "$connections"); do
    timeout 60 python3 tests/http3/aioquic_get.py 127.0.0.1 "$SERVER_PORT" /toy \
        $((streams / connections)) >"$WORK/client-$index.json" 2>"$WORK/client-$index.err" &
    clients+=($!)
    CHILDREN+=($!)
done
sigterm_once_counted "https://127.0.0.1:$SERVER_PORT" smol_toy_http3_streams_total "$streams" 300
failed=0
for index in "${!clients[@]}"; do
    wait "${clients[$index]}" || failed=$((failed + 1))
done
answered=$(cat "$WORK"/client-*.json | python3 -c '
import json, sys
lines = [json.loads(line) for line in sys.stdin if line.strip()]
print(sum(1 for j in lines if j["statuses"] == ["200"]) * '"$((streams / connections))"')')
echo "server: exit code $SERVER_EXIT, ${STOP_ELAPSED} s after SIGTERM, with ${OPENED:-?} streams opened;" \
    "answered 200: $answered of $streams; clients failed: $failed"
if [ "$answered" = "$streams" ] && [ "$failed" = 0 ] && [ "$SERVER_EXIT" = 0 ] &&
    python3 -c "import sys; sys.exit(0 if $STOP_ELAPSED < 10 else 1)"; then
    echo "h3-drain: PASS ($streams of $streams HTTP/3 streams in flight answered 200, exit 0)"
else
    tail -n 5 "$WORK"/client-*.err >&2
    echo "h3-drain: FAIL" >&2
    exit 1
fi
