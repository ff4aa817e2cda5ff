#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes a real smol-toy: bash tests/prometheus.sh
#
# smol-toy serves /toy with its one-second wait; Prometheus scrapes /metrics every
# second while ab sends exactly 1,000 /toy requests on 100 keep-alive connections
# (ab, not wrk: wrk stops with requests unanswered, so its count and the server's
# differ by what was in flight; ab finishes every request it counts). Then, through
# Prometheus' query API, it checks:
#   - up == 1, and the scrape parsed (the OpenMetrics text of prometheus-client);
#   - the /toy 200 counter equals what ab completed, exactly;
#   - histogram_quantile(0.99) of /toy's duration is within 0.99-1.1 s;
#   - rate() of the counter is positive over the load.
# promtool checks the configuration first. Talks only to 127.0.0.1; about 25 s.
source "$(dirname "$0")/../reliability/lib.sh"
need prometheus prometheus
need promtool prometheus
need ab apache2-utils
build

requests=1000
start_server toy --delay 1s
prometheus_port=9391

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: smol-toy
    static_configs:
      - targets: ["127.0.0.1:$SERVER_PORT"]
EOF
promtool check config "$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$WORK/prometheus.log" 2>&1 &
CHILDREN+=($!)

# query PROMQL: the value of the first sample of an instant query, or nothing.
query() {
    curl -sf --max-time 5 "http://127.0.0.1:$prometheus_port/api/v1/query" \
        --data-urlencode "query=$1" |
        python3 -c 'import json, sys
result = json.load(sys.stdin)["data"]["result"]
print(result[0]["value"][1] if result else "")'
}

# wait_for PROMQL VALUE SECONDS: waits until the query answers VALUE.
wait_for() {
    local got=""
    for _ in $(seq $(($3 * 4))); do
        got=$(query "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return
        sleep 0.25
    done
    echo "FAIL: $1 is '${got}', expected $2" >&2
    tail -20 "$WORK/prometheus.log" >&2
    exit 1
}

wait_for 'up{job="smol-toy"}' 1 30
echo "Prometheus scrapes smol-toy: up == 1"

ab -q -k -n "$requests" -c 100 "http://127.0.0.1:$SERVER_PORT/toy" >"$WORK/ab.txt"
completed=$(awk '/^Complete requests:/ {print $3}' "$WORK/ab.txt")
failed=$(awk '/^Failed requests:/ {print $3}' "$WORK/ab.txt")
non_2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$WORK/ab.txt")
echo "ab: $completed complete, $failed failed, ${non_2xx:-0} non-2xx"
[ "$completed" = "$requests" ] && [ "$failed" = 0 ] && [ -z "$non_2xx" ] || {
    cat "$WORK/ab.txt"
    exit 1
}

toy_200='smol_toy_http_requests_total{job="smol-toy",method="GET",route="/toy",status="200"}'
wait_for "$toy_200" "$requests" 10
echo "Prometheus counts $requests /toy 200 responses, as ab does"

p99=$(query 'histogram_quantile(0.99, sum by (le) (smol_toy_http_request_duration_seconds_bucket{route="/toy"}))')
rate=$(query "rate(${toy_200}[20s])")
open_fds=$(query 'process_open_fds{job="smol-toy"}')
echo "p99 of /toy: ${p99} s; rate over the last 20 s: ${rate}/s; open descriptors: ${open_fds}"
python3 - "$p99" "$rate" "$open_fds" <<'EOF'
import sys
p99, rate, fds = (float(v) if v else float("nan") for v in sys.argv[1:])
assert 0.99 <= p99 <= 1.1, f"p99 {p99} outside 0.99-1.1 s"
assert rate > 0, f"rate {rate}"
assert fds > 0, f"process_open_fds {fds}"
EOF
echo "ok: Prometheus scraped, counted and read the histogram"
