#!/usr/bin/env bash
# HTTP/3 against real clients: ngtcp2's gtlsclient, Python aioquic (100 streams on
# one connection), curl_cffi's libcurl (HTTP/3 only), niquests (moving from HTTPS
# over TCP to HTTP/3 by itself, from the first answer's Alt-Svc), and headless
# Chromium firing 60 fetch('/toy') at once over HTTP/3, to `localhost` (which it
# tries as ::1) on a server bound to `::`. Then SIGHUP's certificate reload seen by
# a new QUIC handshake, and the access log and metrics of it all.
#
# Usage: tests/http3.sh [path/to/smol-toy]
# Needs: openssl, gtlsclient (ngtcp2-client), chromium, python3 with aioquic,
#   curl_cffi, niquests and websocket-client.
# Talks only to 127.0.0.1 and ::1; every run is bounded in time and count.
set -uo pipefail

binary=${1:-target/release/smol-toy}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/clients-lib.sh"

test_certificates "smol-toy http3.sh CA"
port=$(free_port)
# Bound to ::, dual-stack: IPv4 clients reach it as 127.0.0.1, Chromium as ::1.
RUST_LOG=info "$binary" --host :: --port "$port" --tls-cert "$work/leaf.pem" \
    --tls-key "$work/leaf.key" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
pids+=($server_pid)
for _ in $(seq 100); do
    grep -q "(HTTP/3, UDP)" "$work/server.out" 2>/dev/null && break
    sleep 0.05
done
grep -q "(HTTP/3, UDP)" "$work/server.out" || { echo "smol-toy did not start:"; cat "$work/server.err"; exit 1; }
origin=https://localhost:$port
body='{"result":1}'

metric() { # metric NAME: the sample's value in a scrape over HTTPS/1.1
    curl -sS --http1.1 --cacert "$work/ca.pem" "$origin/metrics" | sed -n "s/^$1 //p"
}

gtlsclient_toy() {
    rm -rf "$work/download" && mkdir "$work/download"
    timeout 20 gtlsclient --exit-on-all-streams-close --quiet --download="$work/download" \
        127.0.0.1 "$port" "$origin/toy" >"$work/gtls.out" 2>&1 ||
        { tail -n 20 "$work/gtls.out"; return 1; }
    [ "$(cat "$work/download/toy")" = "$body" ]
}
check "gtlsclient (ngtcp2): /toy over HTTP/3" gtlsclient_toy

aioquic_streams() {
    out=$(timeout 20 python3 "$here/http3/aioquic_get.py" 127.0.0.1 "$port" /toy 100 "$work/ca.pem") ||
        { echo "$out"; return 1; }
    echo "aioquic, 100 /toy streams on one connection: $out" >>"$work/figures"
    python3 - "$out" <<'PY'
import json, sys
result = json.loads(sys.argv[1])
assert result["statuses"] == ["200"] and result["bodies"] == ['{"result":1}'], result
assert result["request_ids"] == 100, result
assert result["elapsed_ms"] < 1500, result
PY
}
check "aioquic: 100 /toy streams at once on one connection, within 1.5 s" aioquic_streams

curl_cffi_v3() {
    timeout 20 python3 - "$origin" "$work/ca.pem" <<'PY'
import sys
from curl_cffi import requests
origin, ca = sys.argv[1], sys.argv[2]
session = requests.Session()
for path, expected in [("/toy", '{"result":1}'), ("/healthz", '{"status":"ok"}')]:
    r = session.get(origin + path, http_version="v3only", verify=ca, timeout=10)
    assert r.status_code == 200 and r.text == expected, (r.status_code, r.text)
    assert r.http_version == 30, r.http_version  # CURL_HTTP_VERSION_3
    assert r.headers.get("x-request-id"), r.headers
    assert "alt-svc" not in r.headers, r.headers
r = session.get(origin + "/nope", http_version="v3only", verify=ca, timeout=10)
assert r.status_code == 404, r.status_code
PY
}
check "curl_cffi (libcurl, HTTP/3 only): /toy, /healthz, 404" curl_cffi_v3

niquests_alt_svc() {
    timeout 30 python3 - "$origin" "$work/ca.pem" <<'PY'
import sys
import niquests
origin, ca = sys.argv[1], sys.argv[2]
session = niquests.Session()
versions = []
for _ in range(3):
    r = session.get(origin + "/toy", verify=ca, timeout=10)
    assert r.status_code == 200 and r.text == '{"result":1}', (r.status_code, r.text)
    versions.append(r.http_version)
print(versions)
# The first answer comes over TCP and names HTTP/3; the next ones use it.
assert versions[0] in (11, 20), versions
assert versions[1:] == [30, 30], versions
PY
}
check "niquests: HTTPS over TCP first, then HTTP/3 by itself from Alt-Svc" niquests_alt_svc

browser_h3() {
    local spki before after
    spki=$(openssl x509 -pubkey -noout -in "$work/leaf.pem" | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | base64)
    before=$(metric 'smol_toy_quic_handshakes_total{result="ok"}')
    out=$(timeout 60 python3 "$here/browser/fetch-60.py" "$origin" "$(free_port)" "$spki") ||
        { echo "$out"; return 1; }
    after=$(metric 'smol_toy_quic_handshakes_total{result="ok"}')
    echo "Chromium, 60 fetch('/toy'), HTTP/3: $out, $((after - before)) QUIC connection(s)" >>"$work/figures"
    python3 - "$out" "$((after - before))" <<'PY'
import json, sys
result, connections = json.loads(sys.argv[1]), int(sys.argv[2])
assert result["ok"] == 60 and result["protocols"] == ["h3"], result
assert result["elapsed_ms"] < 1600, result
assert connections == 1, connections
PY
}
check "headless Chromium to localhost (::1): 60 fetch('/toy') over HTTP/3 within 1.6 s, one connection" browser_h3

reload_reaches_quic() {
    local before
    before=$(openssl x509 -noout -serial -in "$work/leaf.pem")
    # A renewed leaf from the same CA, then a broken pair: the renewed one stays.
    (
        cd "$work" || exit 1
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=localhost" -keyout renewed.key -out renewed.csr 2>/dev/null
        openssl x509 -req -in renewed.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile leaf.ext -out renewed.pem 2>/dev/null
        cp renewed.pem leaf.pem && cp renewed.key leaf.key
    )
    kill -HUP "$server_pid"
    sleep 0.5
    echo "not a certificate" >"$work/leaf.pem"
    kill -HUP "$server_pid"
    sleep 0.5
    served=$(timeout 20 python3 - 127.0.0.1 "$port" "$work/ca.pem" <<'PY'
import asyncio, ssl, sys
from aioquic.asyncio.client import connect
from aioquic.h3.connection import H3_ALPN
from aioquic.quic.configuration import QuicConfiguration
async def main():
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    configuration.load_verify_locations(sys.argv[3])
    configuration.server_name = "localhost"
    async with connect(sys.argv[1], int(sys.argv[2]), configuration=configuration) as client:
        certificate = client._quic.tls._peer_certificate
        print(format(certificate.serial_number, "X"))
asyncio.run(main())
PY
    ) || { echo "$served"; return 1; }
    renewed=$(openssl x509 -noout -serial -in "$work/renewed.pem" | cut -d= -f2)
    echo "before: $before, renewed: $renewed, served over QUIC: $served"
    [ "$served" = "$renewed" ] && [ "serial=$served" != "$before" ]
}
check "SIGHUP: a new QUIC handshake gets the renewed certificate; a broken one is refused" reload_reaches_quic

socket_activation() {
    # systemd's part: a TCP and a UDP socket on one port, passed as descriptors 3
    # and 4 (ListenStream= and ListenDatagram=).
    coproc holder {
        RUST_LOG=info python3 "$here/hold-socket.py" --udp "$binary" --tls-cert "$work/renewed.pem" \
            --tls-key "$work/renewed.key" 2>"$work/activated.err"
    }
    local port line out
    read -r line <&"${holder[0]}"
    port=${line#port }
    echo start >&"${holder[1]}"
    read -r line <&"${holder[0]}"
    echo "$line"
    sleep 0.5
    out=$(timeout 20 python3 "$here/http3/aioquic_get.py" 127.0.0.1 "$port" /toy 3 "$work/ca.pem") ||
        { echo "$out"; cat "$work/activated.err"; return 1; }
    echo "$out"
    grep -q '"statuses": \["200"\]' <<<"$out" || return 1
    curl -sS -i --cacert "$work/ca.pem" --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/toy" |
        grep -qi "^alt-svc: h3=\":$port\"" || return 1
    echo stop >&"${holder[1]}"
    read -r line <&"${holder[0]}"
    echo "$line"
    exec {holder[1]}>&-
    grep -q "serving 2 socket(s) passed by systemd" "$work/activated.err" && [ "$line" = "exited 0" ]
}
check "socket activation: the TCP and UDP sockets systemd passes (ListenDatagram=) serve HTTPS and HTTP/3" socket_activation

access_and_metrics() {
    grep -qE 'smol_toy::access\] 127\.0\.0\.1 [^ ]+ "GET /toy HTTP/3" 200 12 .*"aioquic"' "$work/server.err" ||
        { grep access "$work/server.err" | tail -n 3; return 1; }
    grep -qE 'smol_toy::access\] ::1 .*"GET /toy HTTP/3" 200 12 ' "$work/server.err" || return 1
    [ "$(metric 'smol_toy_http_requests_by_protocol_total{protocol="http3"}')" -ge 160 ]
}
check "the access log says HTTP/3 with the client's address; metrics count protocol=\"http3\"" access_and_metrics

echo "-- figures"
cat "$work/figures" 2>/dev/null
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
