#!/usr/bin/env bash
# HTTPS against real clients: curl over TLS 1.2 and 1.3, openssl s_client (protocol,
# ALPN, refusals, close_notify), Python requests, Node's undici, testssl.sh, and
# HTTPS on a socket passed by systemd-socket-activate. The certificates are made
# here, by openssl, for this run.
#
# Usage: tests/tls.sh [path/to/smol-toy]
# Needs: curl openssl python3 (requests) node npm testssl systemd-socket-activate
#   (apt-get install curl openssl testssl.sh systemd nodejs npm; pip install requests);
#   undici is installed with npm into a temporary directory.
# Talks only to 127.0.0.1; every run is bounded in time.
set -uo pipefail

binary=$(realpath "${1:-target/release/smol-toy}")
source "$(dirname "$0")/clients-lib.sh"

test_certificates "smol-toy tls.sh CA"
tls=(--tls-cert "$work/leaf.pem" --tls-key "$work/leaf.key")

start_server main --delay 0 "${tls[@]}"
port=$main_port
url=https://localhost:$port
body='{"result":1}'
curl_tls=(curl -sS --cacert "$work/ca.pem" --resolve "localhost:$port:127.0.0.1")

# curl --------------------------------------------------------------------------
curl_version() { # curl_version 1.2|1.3
    out=$("${curl_tls[@]}" -v --http1.1 --tlsv"$1" --tls-max "$1" -i "$url/toy" 2>&1) || { echo "$out"; return 1; }
    grep -q "SSL connection using TLSv$1" <<<"$out" || { echo "$out"; return 1; }
    grep -q "ALPN: server accepted http/1.1" <<<"$out" || { echo "$out"; return 1; }
    grep -qi "^strict-transport-security: max-age=31536000" <<<"$out" || { echo "$out"; return 1; }
    [ "$(tail -n 1 <<<"$out")" = "$body" ] || { echo "$out"; return 1; }
}
check "curl --cacert --http1.1, TLS 1.3: /toy, ALPN http/1.1, HSTS" curl_version 1.3
check "curl --cacert --http1.1, TLS 1.2: /toy, ALPN http/1.1, HSTS" curl_version 1.2

curl_h2() {
    out=$("${curl_tls[@]}" -v -i "$url/toy" 2>&1) || { echo "$out"; return 1; }
    grep -q "ALPN: server accepted h2" <<<"$out" || { echo "$out"; return 1; }
    grep -q "^HTTP/2 200" <<<"$out" || { echo "$out"; return 1; }
    grep -qi "^strict-transport-security: max-age=31536000" <<<"$out" || { echo "$out"; return 1; }
}
check "curl --cacert (ALPN h2, http/1.1): HTTP/2 chosen, /toy, HSTS" curl_h2

curl_keep_alive() {
    out=$("${curl_tls[@]}" -v --http1.1 "$url/healthz" "$url/healthz" 2>&1) || { echo "$out"; return 1; }
    grep -q "Re-using existing connection" <<<"$out" || { echo "$out"; return 1; }
}
check "curl --http1.1 reuses the HTTPS connection" curl_keep_alive

curl_plain_http() {
    out=$(curl -sS -i "http://127.0.0.1:$port/toy") || { echo "$out"; return 1; }
    head -n 1 <<<"$out" | grep -q "^HTTP/1.1 400" || { echo "$out"; return 1; }
    grep -q 'use https://' <<<"$out" || { echo "$out"; return 1; }
    grep -qi '^connection: close' <<<"$out" || { echo "$out"; return 1; }
}
check "plain HTTP to the HTTPS port: 400 saying use https://" curl_plain_http

# openssl s_client --------------------------------------------------------------
s_client() { # s_client OPTIONS...: a request that asks for the close, and the exchange
    printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
            -CAfile "$work/ca.pem" -msg -ign_eof "$@" 2>&1
}
s_client_version() { # s_client_version 1_2|1_3 NAME
    out=$(s_client -tls"$1" -alpn http/1.1)
    grep -q "Protocol *: $2" <<<"$out" || { echo "$out"; return 1; }
    grep -q "ALPN protocol: http/1.1" <<<"$out" || { echo "$out"; return 1; }
    grep -q "Verify return code: 0 (ok)" <<<"$out" || { echo "$out"; return 1; }
    grep -q "^HTTP/1.1 200 OK" <<<"$out" || { echo "$out"; return 1; }
    # The server ends the connection it was asked to close with close_notify.
    grep -q "Alert.*warning close_notify" <<<"$out" || { echo "$out"; return 1; }
    ! grep -q "unexpected eof" <<<"$out" || { echo "$out"; return 1; }
}
check "openssl s_client -tls1_3: protocol, ALPN, verified, close_notify" s_client_version 1_3 TLSv1.3
check "openssl s_client -tls1_2: protocol, ALPN, verified, close_notify" s_client_version 1_2 TLSv1.2

s_client_refused() { # s_client_refused EXPECTED OPTIONS...: the handshake fails
    local expected=$1
    shift
    out=$(s_client "$@")
    grep -qi "$expected" <<<"$out" || { echo "$out"; return 1; }
    ! grep -q "^HTTP/1.1" <<<"$out" || { echo "$out"; return 1; }
}
check "openssl s_client -tls1_1: refused with an alert" \
    s_client_refused "alert" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0'
check "openssl s_client -tls1: refused with an alert" \
    s_client_refused "alert" -tls1 -cipher 'DEFAULT@SECLEVEL=0'

s_client_both_alpn() {
    out=$(s_client -alpn h2,http/1.1)
    grep -q "ALPN protocol: h2" <<<"$out" || { echo "$out"; return 1; }
    out=$(s_client -alpn h2)
    grep -q "ALPN protocol: h2" <<<"$out" || { echo "$out"; return 1; }
    out=$(s_client)
    grep -q "No ALPN negotiated" <<<"$out" || { echo "$out"; return 1; }
    grep -q "^HTTP/1.1 200 OK" <<<"$out" || { echo "$out"; return 1; }
}
check "openssl s_client: h2,http/1.1 and h2 alone get h2; no ALPN is served HTTP/1.1" s_client_both_alpn

# Python requests ---------------------------------------------------------------
python_requests() {
    python3 - "$url" "$work/ca.pem" "$port" <<'EOF'
import sys, requests
url, ca, port = sys.argv[1], sys.argv[2], sys.argv[3]
with requests.Session() as session:
    for _ in range(3):
        response = session.get(url.replace("localhost", "127.0.0.1") + "/toy", verify=ca, timeout=5)
        assert response.status_code == 200, response.status_code
        assert response.json() == {"result": 1}, response.text
        assert response.headers["strict-transport-security"] == "max-age=31536000"
try:
    requests.get(url.replace("localhost", "127.0.0.1") + "/toy", timeout=5)
    raise SystemExit("an unknown CA was trusted")
except requests.exceptions.SSLError:
    pass
EOF
}
check "python requests verify=CA (and refused without it)" python_requests

# Node's undici -----------------------------------------------------------------
node_undici() {
    mkdir -p "$work/node" && cd "$work/node" || return 1
    [ -d node_modules/undici ] || timeout 120 npm install --silent --no-audit --no-fund undici >/dev/null || return 1
    node - "$port" "$work/ca.pem" <<'EOF'
const { Agent, request } = require("undici");
const fs = require("fs");
const [port, ca] = process.argv.slice(2);
const agent = new Agent({ connect: { ca: fs.readFileSync(ca), servername: "localhost" } });
(async () => {
  for (let i = 0; i < 3; i++) {
    const { statusCode, headers, body } = await request(`https://127.0.0.1:${port}/toy`,
      { dispatcher: agent });
    const text = await body.text();
    if (statusCode !== 200 || text !== '{"result":1}') throw new Error(`${statusCode} ${text}`);
    if (headers["strict-transport-security"] !== "max-age=31536000") throw new Error("no HSTS");
  }
  await agent.close();
})().catch((error) => { console.error(error); process.exit(1); });
EOF
    local status=$?
    cd - >/dev/null
    return $status
}
check "node undici with the CA" node_undici

# testssl.sh --------------------------------------------------------------------
testssl_findings() {
    timeout 600 testssl --quiet --color 0 --warnings off --add-ca "$work/ca.pem" \
        --ip 127.0.0.1 --jsonfile "$work/testssl.json" "localhost:$port" >"$work/testssl.txt" 2>&1
    python3 - "$work/testssl.json" <<'EOF'
import json, sys
findings = json.load(open(sys.argv[1]))
severe = [f for f in findings
          if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")
          and not f["id"].startswith("cert")]
counts = {}
for f in findings:
    counts[f.get("severity")] = counts.get(f.get("severity"), 0) + 1
print("testssl findings by severity:", dict(sorted(counts.items())))
by_id = {f["id"]: f["finding"] for f in findings}
for key in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipher_order", "FS",
            "FS_ciphers", "FS_ECDHE_curves", "HSTS", "ALPN", "heartbleed", "CCS", "ticketbleed",
            "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS", "POODLE_SSL",
            "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13",
            "RC4", "winshock"):
    if key in by_id:
        print(f"  {key}: {by_id[key]}")
for f in findings:
    if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL", "LOW", "WARN"):
        print(f"  {f['severity']:8} {f['id']}: {f['finding']}")
if severe:
    sys.exit(f"{len(severe)} finding(s) of MEDIUM or above outside the test certificate")
EOF
}
if command -v testssl >/dev/null; then
    check "testssl.sh: no finding of MEDIUM or above but the test certificate's" testssl_findings
    sed 's/^/     | /' "$work/out"
else
    failed=$((failed + 1))
    echo "FAIL testssl is not installed (apt-get install testssl.sh)"
fi

# systemd-socket-activate ---------------------------------------------------------
socket_activated() {
    local activated
    activated=$(free_port)
    systemd-socket-activate -l "127.0.0.1:$activated" "$binary" --delay 0 "${tls[@]}" \
        >"$work/activated.out" 2>"$work/activated.err" &
    local pid=$!
    pids+=($pid)
    # systemd-socket-activate binds before it runs anything; until it has, retry.
    out=$("${curl_tls[@]}" --retry 5 --retry-connrefused --resolve "localhost:$activated:127.0.0.1" -i \
        "https://localhost:$activated/healthz") || { echo "$out"; cat "$work/activated.err"; return 1; }
    # curl offers h2 first: HTTP/2 on a socket systemd passed.
    head -n 1 <<<"$out" | grep -q "^HTTP/2 200" || { echo "$out"; return 1; }
    kill -TERM "$pid"
    wait "$pid"
}
check "HTTPS (HTTP/2) on a socket passed by systemd-socket-activate" socket_activated

no_errors_logged() {
    ! grep -E " (ERROR|WARN) " "$work/main.err"
}
check "no errors or warnings in the server log" no_errors_logged

echo "tls.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
