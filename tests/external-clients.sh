#!/usr/bin/env bash
# Real HTTP clients against a real smol-toy: curl (HTTP/1.0 and 1.1), ab (plain and
# keep-alive), wrk, h2load with pipelining, Python requests, and nginx's default
# reverse proxy (which speaks HTTP/1.0 to its upstream).
#
# Usage: tests/external-clients.sh [path/to/smol-toy]
# Needs: curl ab wrk h2load nginx python3 with requests
#   (apt-get install curl apache2-utils wrk nghttp2-client nginx-light; pip install requests)
# Talks only to 127.0.0.1; every load is bounded in count or time.
set -uo pipefail

binary=${1:-target/release/smol-toy}
source "$(dirname "$0")/clients-lib.sh"

# Starts smol-toy with the given options; sets $port.
start_smol_toy() {
    RUST_LOG=warn "$binary" --host 127.0.0.1 --port 0 "$@" >"$work/smol-toy.out" 2>"$work/smol-toy.err" &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's|^listening on http://127.0.0.1:||p' "$work/smol-toy.out")
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "smol-toy did not start:"; cat "$work/smol-toy.err"; exit 1
}

start_smol_toy --delay 0
url=http://127.0.0.1:$port
body='{"result":1}'

# curl ------------------------------------------------------------------------
curl_http11() {
    out=$(curl -sS -i --http1.1 "$url/toy") || return 1
    grep -q '^HTTP/1.1 200 OK' <<<"$out" && grep -qi '^content-type: application/json' <<<"$out" &&
        [ "$(tail -n1 <<<"$out")" = "$body" ]
}
curl_http10() {
    out=$(curl -sS -i --http1.0 "$url/toy") || return 1
    grep -q '^HTTP/1.1 200 OK' <<<"$out" && grep -qi '^connection: close' <<<"$out" &&
        [ "$(tail -n1 <<<"$out")" = "$body" ]
}
curl_keep_alive() {
    # Two URLs on one command line reuse one connection.
    out=$(curl -sS -v "$url/toy" "$url/healthz" 2>&1) || return 1
    grep -q 'Re-using existing connection' <<<"$out" || grep -q 'Reusing existing' <<<"$out"
}
curl_errors() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope")" = 404 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/toy")" = 405 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: gzip' -H 'Content-Length:' -d x "$url/toy")" = 501 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -d x "$url/toy")" = 405 ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS "$url/toy")" = 204 ]
}
curl_expect_100() {
    # curl sends Expect: 100-continue for bodies over 1 MiB and waits for the answer.
    head -c 2000000 /dev/zero >"$work/big"
    code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST --data-binary @"$work/big" "$url/toy")
    [ "${code%% *}" = 405 ] && awk -v t="${code##* }" 'BEGIN { exit !(t < 0.9) }'
}
check "curl HTTP/1.1" curl_http11
check "curl HTTP/1.0" curl_http10
check "curl keep-alive reuses the connection" curl_keep_alive
check "curl error statuses" curl_errors
check "curl Expect: 100-continue is answered at once" curl_expect_100

# ab (HTTP/1.0) -----------------------------------------------------------------
ab_run() { # ab_run [-k]
    ab "$@" -n 2000 -c 50 "$url/toy" >"$work/ab" 2>&1 || { cat "$work/ab"; return 1; }
    cat "$work/ab"
    grep -q '^Complete requests: *2000$' "$work/ab" &&
        grep -q '^Failed requests: *0$' "$work/ab" &&
        grep -q "^Document Length: *${#body} bytes$" "$work/ab" &&
        ! grep -q '^Non-2xx responses' "$work/ab"
}
ab_keep_alive() {
    ab_run -k && grep -q '^Keep-Alive requests: *2000$' "$work/ab"
}
check "ab -n 2000 -c 50" ab_run
check "ab -k -n 2000 -c 50 (HTTP/1.0 keep-alive)" ab_keep_alive

# wrk ---------------------------------------------------------------------------
wrk_run() {
    out=$(wrk -t2 -c64 -d3s "$url/toy") || return 1
    echo "$out"
    ! grep -q 'Non-2xx or 3xx responses' <<<"$out" && ! grep -q 'Socket errors' <<<"$out" &&
        grep -q 'Requests/sec' <<<"$out"
}
check "wrk -c 64 -d 3s" wrk_run

# h2load pipelining -------------------------------------------------------------
h2load_pipelined() {
    out=$(timeout 60 h2load --h1 -n 3200 -c 20 -m 16 "$url/toy") || { echo "$out"; return 1; }
    echo "$out"
    grep -q 'requests: 3200 total, 3200 started, 3200 done, 3200 succeeded, 0 failed, 0 errored, 0 timeout' <<<"$out" &&
        grep -q 'status codes: 3200 2xx' <<<"$out"
}
check "h2load --h1 -n 3200 -c 20 -m 16" h2load_pipelined

# Python requests ---------------------------------------------------------------
python_requests() {
    python3 - "$url" <<'PY'
import sys, requests
url = sys.argv[1]
with requests.Session() as session:
    for _ in range(20):
        r = session.get(url + "/toy", timeout=5)
        assert r.status_code == 200 and r.json() == {"result": 1}, (r.status_code, r.text)
    r = session.head(url + "/toy", timeout=5)
    assert r.status_code == 200 and r.headers["content-length"] == "12"
    r = session.post(url + "/toy", data=b"x" * 100, timeout=5)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, OPTIONS", r.headers
    assert r.json() == {"error": "method not allowed"}
    r = session.get(url + "/nope", timeout=5)
    assert r.status_code == 404 and r.json() == {"error": "not found"}
print("python requests: all good")
PY
}
check "python requests" python_requests

# nginx as a reverse proxy ------------------------------------------------------
nginx_proxy() {
    local nginx_port
    nginx_port=$(free_port)
    mkdir -p "$work/nginx/logs"
    # A default proxy_pass: nginx speaks HTTP/1.0 to the upstream, without keep-alive.
    cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { proxy_pass http://127.0.0.1:$port; }
    }
}
EOF
    nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
    pids+=($!)
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$nginx_port/healthz" && break
        sleep 0.1
    done
    out=$(curl -sS -i "http://127.0.0.1:$nginx_port/toy") || { cat "$work/nginx/logs/error.log"; return 1; }
    echo "$out"
    grep -q '^HTTP/1.1 200 OK' <<<"$out" && [ "$(tail -n1 <<<"$out")" = "$body" ] || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port/nope")" = 404 ] || return 1
    ab -n 1000 -c 20 "http://127.0.0.1:$nginx_port/toy" >"$work/ab-nginx" 2>&1 || return 1
    grep -q '^Failed requests: *0$' "$work/ab-nginx" && ! grep -q '^Non-2xx' "$work/ab-nginx" || {
        cat "$work/ab-nginx" "$work/nginx/logs/error.log"; return 1; }
}
check "nginx default proxy_pass" nginx_proxy

# The server survived all of it without logging an error.
no_errors_logged() {
    cat "$work/smol-toy.err"
    ! grep -q 'ERROR' "$work/smol-toy.err"
}
check "no errors in the server log" no_errors_logged

echo
echo "external clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
