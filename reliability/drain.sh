#!/usr/bin/env bash
# Graceful shutdown under load: bash reliability/drain.sh [CONNECTIONS] [--tls]
# (default 5000). With CONNECTIONS /toy requests in flight (the wait set to 3 s;
# over HTTPS with --tls), SIGTERM the server.
# Passes if every request gets a 200 (none reset or dropped), a new connection is
# refused right after the signal, and the process exits 0 within its shutdown timeout.
source "$(dirname "$0")/lib.sh"
connections=${1:-5000}
tls_option "${2:-}"
build
start_server drain --delay 3s --shutdown-timeout 10s "${TLS_ARGS[@]}"

python3 reliability/toyclient.py --port "$SERVER_PORT" --connections "$connections" \
    --timeout 30 "${CLIENT_TLS[@]}" >"$WORK/client.json" 2>"$WORK/client.err" &
client=$!
CHILDREN+=("$client")
wait_for_line "$WORK/client.err" "sent $connections" 20
sleep 0.5

signalled=$(date +%s.%N)
kill -TERM "$SERVER_PID"
sleep 0.1
refused=yes
refuses_connections "$SERVER_PORT" || refused=no
code=0
wait "$SERVER_PID" || code=$?
exited=$(date +%s.%N)
wait "$client" || true

echo "client: $(cat "$WORK/client.json")"
elapsed=$(python3 -c "print(round($exited - $signalled, 3))")
echo "server: exit code $code, ${elapsed} s after SIGTERM; new connection refused after the signal: $refused"

ok=$(json_field "$WORK/client.json" "j['outcomes'] == {'200': $connections}")
if [ "$ok" = True ] && [ "$code" = 0 ] && [ "$refused" = yes ] &&
    python3 -c "import sys; sys.exit(0 if $elapsed < 10 else 1)"; then
    echo "drain: PASS ($connections of $connections in-flight requests answered 200${CLIENT_TLS:+ over HTTPS})"
else
    echo "drain: FAIL" >&2
    exit 1
fi
