#!/usr/bin/env bash
# Rolling restart behind nginx: bash reliability/rolling-restart.sh [SECONDS] (default 40)
# Two instances on ports 4601 and 4602 behind deploy/nginx.conf (port 8080). While
# wrk keeps 100 connections asking nginx for /toy, each instance in turn gets
# SIGTERM and a fresh process takes its port, every 8 s. Passes if wrk sees no
# failed request (no non-2xx, no socket error) and every stopped instance exits 0,
# and if nginx's request id reaches the instances (the answer carries nginx's
# 32-hex-digit $request_id, not the one the client sent), and if nginx refuses
# /metrics (403) while each instance serves it directly.
source "$(dirname "$0")/lib.sh"
seconds=${1:-40}
need nginx nginx-light
need wrk wrk
build

declare -A instance
for port in 4601 4602; do
    PORT=$port start_server "first-$port"
    instance[$port]=$SERVER_PID
done
mkdir -p "$WORK/nginx"
nginx -p "$WORK/nginx" -c "$ROOT/deploy/nginx.conf" \
    -g "daemon off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;" \
    >"$WORK/nginx/stdout" 2>&1 &
CHILDREN+=($!)
for _ in $(seq 50); do
    curl -sf --max-time 3 http://127.0.0.1:8080/toy >/dev/null && break
    sleep 0.1
done

request_id=$(curl -sf --max-time 3 -D - -o /dev/null -H "X-Request-Id: from-the-client" \
    http://127.0.0.1:8080/healthz | tr -d '\r' |
    awk -F': ' 'tolower($1) == "x-request-id" {print $2}')
echo "a request through nginx came back with X-Request-Id: ${request_id:-none}"
metrics_public=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/metrics)
metrics_direct=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' http://127.0.0.1:4601/metrics)
echo "/metrics through nginx: $metrics_public; from an instance directly: $metrics_direct"

wrk -t2 -c100 -d"${seconds}s" --latency --timeout 10s http://127.0.0.1:8080/toy >"$WORK/wrk.txt" &
load=$!
restarts=0
failed_exits=0
round=0
while [ $(((round + 1) * 8)) -lt "$seconds" ]; do
    sleep 8
    port=$((round % 2 == 0 ? 4601 : 4602))
    old=${instance[$port]}
    kill -TERM "$old"
    # The old process closes its listener at the signal, so the new one can bind
    # while the old one still finishes its in-flight requests.
    for _ in $(seq 100); do
        PORT=$port start_server "round$round-$port" && break
        sleep 0.05
    done
    instance[$port]=$SERVER_PID
    code=0
    wait "$old" || code=$?
    [ "$code" = 0 ] || failed_exits=$((failed_exits + 1))
    restarts=$((restarts + 1))
    echo "restarted :$port (old pid $old exited $code, new pid $SERVER_PID)"
    round=$((round + 1))
done
wait "$load"

wrk_summary "$WORK/wrk.txt"
requests=$WRK_REQUESTS non2xx=$WRK_NON2XX errors=$WRK_ERRORS p99=$WRK_P99
retried=$(grep -c "while reading\|connect() failed\|prematurely closed" "$WORK/nginx/error.log" || true)
echo "rolling restart: $restarts restarts in ${seconds} s; $requests requests through nginx," \
    "${non2xx:-0} non-2xx, ${errors:-no socket errors}, p99 $p99;" \
    "nginx retried $retried upstream errors on the other instance"
if [ "$restarts" -ge 2 ] && [ -z "$non2xx" ] && [ -z "$errors" ] && [ "$failed_exits" = 0 ] &&
    [ "${requests:-0}" -gt 0 ] && [[ $request_id =~ ^[0-9a-f]{32}$ ]] &&
    [ "$metrics_public" = 403 ] && [ "$metrics_direct" = 200 ]; then
    echo "rolling-restart: PASS"
else
    cat "$WORK/wrk.txt" >&2
    echo "rolling-restart: FAIL" >&2
    exit 1
fi
