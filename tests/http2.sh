#!/usr/bin/env bash
# HTTP/2 against real clients: curl (TLS by ALPN, cleartext by prior knowledge, a
# Unix socket, the deprecated Upgrade: h2c answered over HTTP/1.1), nghttp, h2load
# (100 streams on one connection; a few seconds of load over TLS and h2c), Python
# httpx, Node's built-in http2 client, headless Chromium firing 60 fetch('/toy') at
# once (and the same page over HTTP/1.1 for contrast), and h2spec, the HTTP/2
# conformance suite, over h2c and TLS.
#
# Usage: tests/http2.sh [path/to/smol-toy]
# Needs: curl openssl nghttp h2load (nghttp2-client) node chromium python3 with
#   httpx[http2] and websocket-client; Go and the packages h2spec's build.sh installs.
# Talks only to 127.0.0.1; every run is bounded in time and count.
set -uo pipefail

binary=${1:-target/release/smol-toy}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/clients-lib.sh"
# Most h2spec failures allowed on each port; each one is explained in docs/http2.md.
max_h2spec_failures=2

test_certificates "smol-toy http2.sh CA"
tls=(--tls-cert "$work/leaf.pem" --tls-key "$work/leaf.key")

start_server plain
start_server secure "${tls[@]}"
start_server http1_only --http2 off "${tls[@]}"
"$binary" --unix-socket "$work/toy.sock" >"$work/unix.out" 2>"$work/unix.err" &
pids+=($!)
h2c=http://127.0.0.1:$plain_port
h2=https://localhost:$secure_port
body='{"result":1}'
curl_tls=(curl -sS --cacert "$work/ca.pem" --resolve "localhost:$secure_port:127.0.0.1")

metric() { # metric URL-BASE NAME: the sample's value in a scrape over HTTP/1.1
    curl -sS --http1.1 --cacert "$work/ca.pem" --resolve "localhost:$secure_port:127.0.0.1" \
        "$1/metrics" | sed -n "s/^$2 //p"
}

# curl --------------------------------------------------------------------------
curl_prior_knowledge() {
    out=$(curl -sS -i --http2-prior-knowledge "$h2c/toy") || { echo "$out"; return 1; }
    head -n 1 <<<"$out" | grep -q "^HTTP/2 200" || { echo "$out"; return 1; }
    grep -qi "^x-request-id: " <<<"$out" || { echo "$out"; return 1; }
    [ "$(tail -n 1 <<<"$out")" = "$body" ] || { echo "$out"; return 1; }
}
check "curl --http2-prior-knowledge (h2c): /toy" curl_prior_knowledge

curl_alpn() {
    out=$("${curl_tls[@]}" -v -i --http2 "$h2/toy" 2>&1) || { echo "$out"; return 1; }
    grep -q "ALPN: server accepted h2" <<<"$out" || { echo "$out"; return 1; }
    grep -q "^HTTP/2 200" <<<"$out" || { echo "$out"; return 1; }
    grep -qi "^strict-transport-security: max-age=31536000" <<<"$out" || { echo "$out"; return 1; }
    [ "$(tail -n 1 <<<"$out")" = "$body" ] || { echo "$out"; return 1; }
}
check "curl --http2 over TLS: ALPN h2, /toy, HSTS" curl_alpn

curl_unix_socket() {
    for _ in $(seq 50); do [ -S "$work/toy.sock" ] && break; sleep 0.05; done
    out=$(curl -sS -i --unix-socket "$work/toy.sock" --http2-prior-knowledge http://localhost/healthz) ||
        { echo "$out"; return 1; }
    head -n 1 <<<"$out" | grep -q "^HTTP/2 200" || { echo "$out"; return 1; }
}
check "curl --http2-prior-knowledge on a Unix socket" curl_unix_socket

curl_upgrade_ignored() {
    # curl --http2 on http:// asks to upgrade; RFC 9113 deprecates it: HTTP/1.1.
    out=$(curl -sS -v -i --http2 "$h2c/toy" 2>&1) || { echo "$out"; return 1; }
    grep -q "Upgrade: h2c" <<<"$out" || { echo "$out"; return 1; }
    grep -q "^HTTP/1.1 200" <<<"$out" || { echo "$out"; return 1; }
}
check "curl --http2 on http:// (Upgrade: h2c): answered over HTTP/1.1" curl_upgrade_ignored

curl_errors() {
    for want in "404 /nope" "405 -X POST /toy" "204 -X OPTIONS /toy"; do
        set -- $want
        local status=$1 path=${*: -1}
        got=$(curl -sS -o /dev/null -w '%{http_code} %{http_version}' --http2-prior-knowledge \
            "${@:2:$#-2}" "$h2c$path") || return 1
        [ "$got" = "$status 2" ] || { echo "$want: $got"; return 1; }
    done
    out=$(curl -sS -i --http2-prior-knowledge -X POST "$h2c/toy") || return 1
    grep -qi "^allow: GET, HEAD, OPTIONS" <<<"$out" || { echo "$out"; return 1; }
}
check "curl over h2c: 404, 405 with Allow, OPTIONS 204" curl_errors

# nghttp ------------------------------------------------------------------------
nghttp_streams() {
    out=$(timeout 10 nghttp -nv "$h2c/toy" "$h2c/healthz" "$h2c/nope" 2>&1) || { echo "$out"; return 1; }
    [ "$(grep -c ':status: 200' <<<"$out")" -eq 2 ] || { echo "$out"; return 1; }
    grep -q ':status: 404' <<<"$out" || { echo "$out"; return 1; }
    grep -q 'recv SETTINGS frame' <<<"$out" || { echo "$out"; return 1; }
    grep -q 'SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128' <<<"$out" || { echo "$out"; return 1; }
}
check "nghttp: three streams on one connection; MAX_CONCURRENT_STREAMS 128" nghttp_streams

# h2load ------------------------------------------------------------------------
h2load_one_connection() {
    local started=$SECONDS
    out=$(timeout 20 h2load -c 1 -m 100 -n 100 "$h2c/toy" 2>&1) || { echo "$out"; return 1; }
    grep -q "100 succeeded, 0 failed, 0 errored" <<<"$out" || { echo "$out"; return 1; }
    # Answered together: the run takes about one second, not a hundred.
    local took
    took=$(sed -n 's/^finished in \([0-9.]*\)s.*/\1/p' <<<"$out")
    python3 -c "import sys; sys.exit(0 if float('$took') < 1.8 else 1)" || { echo "$out"; return 1; }
    echo "h2load -c 1 -m 100 -n 100 /toy: $took s" >>"$work/figures"
}
check "h2load -c 1 -m 100 -n 100 /toy: one connection, answered together" h2load_one_connection

h2load_duration() { # h2load_duration URL
    out=$(timeout 30 h2load -c 16 -m 10 -D 3 "$1/healthz" 2>&1) || { echo "$out"; return 1; }
    grep -q " 0 failed, 0 errored, 0 timeout" <<<"$out" || { echo "$out"; return 1; }
    echo "h2load -c 16 -m 10 -D 3 $1/healthz: $(grep -E "^finished in" <<<"$out")" >>"$work/figures"
}
check "h2load -c 16 -m 10 -D 3 /healthz over h2c" h2load_duration "$h2c"
check "h2load -c 16 -m 10 -D 3 /healthz over TLS" h2load_duration "$h2"

# Python httpx ------------------------------------------------------------------
python_httpx() {
    python3 - "$h2c" "$h2" "$work/ca.pem" <<'PY'
import sys, httpx
h2c, h2, ca = sys.argv[1:]
with httpx.Client(http1=False, http2=True, timeout=5) as client:  # prior knowledge
    r = client.get(f"{h2c}/toy")
    assert (r.http_version, r.status_code, r.json()) == ("HTTP/2", 200, {"result": 1}), r
with httpx.Client(http2=True, verify=ca, timeout=5) as client:  # ALPN
    r = client.get(f"{h2}/toy")
    assert (r.http_version, r.status_code, r.json()) == ("HTTP/2", 200, {"result": 1}), r
    assert r.headers["strict-transport-security"] == "max-age=31536000"
PY
}
check "python httpx http2=True: prior knowledge and ALPN" python_httpx

# Node's built-in http2 ---------------------------------------------------------
node_http2() {
    node - "$h2c" "$h2" "$work/ca.pem" <<'JS'
const http2 = require('node:http2');
const fs = require('node:fs');
const [h2c, h2, caFile] = process.argv.slice(2);
function get(session, path) {
    return new Promise((resolve, reject) => {
        const stream = session.request({':path': path});
        let status, body = '';
        stream.on('response', headers => { status = headers[':status']; });
        stream.setEncoding('utf8');
        stream.on('data', chunk => { body += chunk; });
        stream.on('end', () => resolve([status, body]));
        stream.on('error', reject);
    });
}
(async () => {
    for (const [url, options] of [[h2c, {}], [h2, {ca: fs.readFileSync(caFile)}]]) {
        const session = http2.connect(url, options);
        const answers = await Promise.all(Array.from({length: 20}, () => get(session, '/toy')));
        for (const [status, body] of answers) {
            if (status !== 200 || body !== '{"result":1}') throw new Error(`${url}: ${status} ${body}`);
        }
        session.close();
    }
})().catch(error => { console.error(error); process.exit(1); });
JS
}
check "node:http2: 20 streams on one session, h2c and TLS" node_http2

# A real browser ----------------------------------------------------------------
browser() {
    local before after
    before=$(metric "$h2" smol_toy_http2_connections_total)
    out=$(timeout 60 python3 "$here/browser/fetch-60.py" "$h2" "$(free_port)") || { echo "$out"; return 1; }
    after=$(metric "$h2" smol_toy_http2_connections_total)
    echo "Chromium, 60 fetch('/toy'), HTTP/2: $out, $((after - before)) HTTP/2 connection(s)" >>"$work/figures"
    python3 - "$out" "$((after - before))" <<'PY' || return 1
import json, sys
result, connections = json.loads(sys.argv[1]), int(sys.argv[2])
assert result["ok"] == 60 and result["protocols"] == ["h2"], result
assert result["elapsed_ms"] < 1600, result
assert connections == 1, connections
PY
    # The same page over HTTP/1.1, for contrast: six connections, ten rounds.
    out=$(timeout 60 python3 "$here/browser/fetch-60.py" "https://localhost:$http1_only_port" "$(free_port)") ||
        { echo "$out"; return 1; }
    echo "Chromium, 60 fetch('/toy'), HTTP/1.1: $out" >>"$work/figures"
    grep -q '"ok":60' <<<"$out" && grep -q '"http/1.1"' <<<"$out"
}
check "headless Chromium: 60 fetch('/toy') at once over HTTP/2 within 1.6 s, one connection" browser

# h2spec ------------------------------------------------------------------------
# h2spec's source is the workplace's, beside the project: ../shared/tools/h2spec.
h2spec_bin=${H2SPEC:-}
h2spec_build=$here/../../shared/tools/h2spec/build.sh
if [ -z "$h2spec_bin" ] && [ -f "$h2spec_build" ]; then
    h2spec_bin=$(bash "$h2spec_build" "$here/../target/h2spec" 2>"$work/h2spec-build.err" | tail -n 1)
fi
h2spec_run() { # h2spec_run PORT [-t -k]: at most $max_h2spec_failures failures
    local port=$1
    shift
    # /toy waits 200 ms here, so that h2spec's illegal frames after a request arrive
    # while its stream is open, as they would on a slow route.
    out=$(timeout 300 "$h2spec_bin" "$@" -h 127.0.0.1 -p "$port" --path /toy --timeout 5 2>&1)
    summary=$(grep -E "^[0-9]+ tests, " <<<"$out") || { echo "$out" | tail -n 30; return 1; }
    echo "h2spec $*: $summary" >>"$work/figures"
    grep -E "^\s+× " <<<"$out" >>"$work/figures"
    failures=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$summary")
    [ "${failures:-99}" -le "$max_h2spec_failures" ]
}
if [ -x "$h2spec_bin" ]; then
    start_server spec_plain --delay 200ms
    start_server spec_tls --delay 200ms "${tls[@]}"
    check "h2spec over h2c (prior knowledge): at most $max_h2spec_failures failures" h2spec_run "$spec_plain_port"
    check "h2spec over TLS (ALPN h2): at most $max_h2spec_failures failures" h2spec_run "$spec_tls_port" -t -k
else
    h2spec_missing() {
        echo "no h2spec: ${h2spec_bin:-$h2spec_build not found}"
        cat "$work/h2spec-build.err" 2>/dev/null
        return 1
    }
    check "h2spec builds (../shared/tools/h2spec/build.sh)" h2spec_missing
fi

no_errors_logged() {
    ! grep -E " (ERROR|WARN) " "$work"/*.err
}
check "no errors or warnings in the servers' logs" no_errors_logged

echo "-- figures"
cat "$work/figures" 2>/dev/null
echo "http2.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
