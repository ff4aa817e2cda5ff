#!/usr/bin/env bash
# smol-toy behind Debian's HAProxy 2.6 with the PROXY protocol: bash tests/haproxy.sh [SECONDS]
#
#   1. deploy/haproxy.cfg as it is, over two HTTPS instances started with
#      --proxy-protocol: a client bound to 127.0.0.2 appears as 127.0.0.2 in the
#      instance's access log, with HAProxy's 127.0.0.1 as the peer, through the TCP
#      frontend (TLS passthrough, send-proxy-v2) and the HTTP frontend.
#   2. The same over plain HTTP: a third instance without TLS behind a TCP-mode
#      HAProxy with send-proxy-v2.
#   3. Raw headers to that instance: a v1 header from a trusted peer is believed;
#      from an untrusted address (127.0.0.3), without a header, and with each
#      malformed header (truncated v1, v1 over 107 bytes, an unknown family, a bad
#      v2 signature, a v2 length beyond the bound, a v2 address block too short),
#      the connection is closed unanswered and counted by reason; the untrusted
#      peer's claimed address appears in no log line.
#   4. A rolling restart through the TCP frontend, retries 0: wrk keeps 100 HTTPS
#      connections asking for /toy while each instance in turn gets SIGTERM, is
#      taken out by HAProxy because /readyz answers 503 (HAProxy's log says so),
#      exits 0, and is started again; then the other. Passes with no failed
#      request and no socket error.
# Installs haproxy, curl, wrk and openssl if missing. Talks only to 127.0.0.1 (and
# 127.0.0.2 and .3, loopback too); about 30 s.
source "$(dirname "$0")/../reliability/lib.sh"
seconds=${1:-26}
need haproxy haproxy
need curl curl
need wrk wrk
tls_option --tls
build
failed=0
check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failed=$((failed + 1)); fi
}

A=4631 B=4632 PLAIN=4633
instance_args=(--proxy-protocol --trusted-proxies 127.0.0.1 --shutdown-delay 5s --delay 1s)
declare -A pid
start_instance() { # start_instance PORT NAME
    RUST_LOG=info PORT=$1 start_server "$2" "${TLS_ARGS[@]}" "${instance_args[@]}"
    pid[$1]=$SERVER_PID
}
start_instance $A a-first
start_instance $B b-first
RUST_LOG=debug PORT=$PLAIN start_server plain --proxy-protocol --trusted-proxies 127.0.0.1 --delay 0
pid[$PLAIN]=$SERVER_PID

# HAProxy, with deploy/haproxy.cfg as it is; its log (stdout) is $WORK/haproxy.log,
# its warnings (the same state changes, again) go to $WORK/haproxy.err.
SMOL_TOY_CA=$WORK/cert.pem haproxy -c -q -f deploy/haproxy.cfg
SMOL_TOY_CA=$WORK/cert.pem haproxy -db -f deploy/haproxy.cfg >"$WORK/haproxy.log" 2>"$WORK/haproxy.err" &
CHILDREN+=($!)
# A TCP-mode HAProxy in front of the plain instance.
cat >"$WORK/plain.cfg" <<EOF
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend plain
    bind 127.0.0.1:8081
    default_backend plain
backend plain
    server plain 127.0.0.1:$PLAIN send-proxy-v2
EOF
haproxy -db -f "$WORK/plain.cfg" >"$WORK/haproxy-plain.log" 2>&1 &
CHILDREN+=($!)
curl_https=(--cacert "$WORK/cert.pem" --resolve localhost:8443:127.0.0.1)
for _ in $(seq 50); do
    curl -sf --max-time 3 "${curl_https[@]}" https://localhost:8443/healthz >/dev/null &&
        curl -sf --max-time 3 http://127.0.0.1:8081/healthz >/dev/null && break
    sleep 0.1
done

# logged LOG ID CLIENT: the access line of request ID in LOG names CLIENT, and HAProxy
# (127.0.0.1) as the peer. Waits for the log's batch (at most 100 ms) to be written.
logged() {
    local line
    for _ in $(seq 20); do
        line=$(grep -h " $2 " $1 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    echo "     $line"
    [[ $line == "$3 127.0.0.1:"* ]] || [[ $line == *"] $3 127.0.0.1:"* ]]
}

# 1. Through deploy/haproxy.cfg.
status=$(curl -s --max-time 5 --interface 127.0.0.2 "${curl_https[@]}" -H "X-Request-Id: via-passthrough" \
    -o /dev/null -w '%{http_code}' https://localhost:8443/toy)
check "TLS passthrough: /toy answers 200" test "$status" = 200
check "TLS passthrough: the access log names 127.0.0.2, peer 127.0.0.1" \
    logged "$WORK/a-first.log $WORK/b-first.log" via-passthrough 127.0.0.2
status=$(curl -s --max-time 5 --interface 127.0.0.2 -H "X-Request-Id: via-http-mode" \
    -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/toy)
check "HTTP mode: /toy answers 200" test "$status" = 200
check "HTTP mode: the access log names 127.0.0.2, peer 127.0.0.1" \
    logged "$WORK/a-first.log $WORK/b-first.log" via-http-mode 127.0.0.2
status=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/metrics)
check "HTTP mode: /metrics is denied (403)" test "$status" = 403

# 2. Plain HTTP behind send-proxy-v2.
status=$(curl -s --max-time 5 --interface 127.0.0.2 -H "X-Request-Id: via-plain" \
    -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/toy)
check "plain HTTP: /toy answers 200" test "$status" = 200
check "plain HTTP: the access log names 127.0.0.2, peer 127.0.0.1" \
    logged "$WORK/plain.log" via-plain 127.0.0.2

# 3. Raw headers. raw FROM BYTES: sends the Python bytes expression BYTES from the
# address FROM to the plain instance, then closes its sending side; prints the
# status line of the answer, or "closed" when there is none (a reset included).
raw() {
    python3 - "$PLAIN" "$@" <<'EOF'
import socket, struct, sys
port, source, expression = int(sys.argv[1]), sys.argv[2], sys.argv[3]
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
def v2(command, family, length, payload):
    return SIG + bytes([0x20 | command, family]) + struct.pack("!H", length) + payload
IPV4 = bytes([192, 0, 2, 7, 127, 0, 0, 1]) + struct.pack("!HH", 40000, port)
def get(request_id):
    return b"GET /toy HTTP/1.1\r\nHost: t\r\nX-Request-Id: " + request_id.encode() + b"\r\n\r\n"
data = eval(expression)
with socket.socket() as s:
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    answer = b""
    # A refused connection may be reset before the request is even sent: the
    # server closes it as soon as it sees the peer, so sending or shutting
    # down can fail (EPIPE, ECONNRESET, ENOTCONN). That, too, is "closed".
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(4096):
            answer += chunk
    except (ConnectionError, OSError) as error:
        if isinstance(error, socket.timeout):
            raise
    print(answer.split(b"\r\n")[0].decode() if answer else "closed")
EOF
}
answer=$(raw 127.0.0.1 'b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 4633\r\n" + get("raw-v1")')
check "a raw v1 header from 127.0.0.1 is believed: $answer" test "$answer" = "HTTP/1.1 200 OK"
check "the access log names the client the header gave, 192.0.2.7" logged "$WORK/plain.log" raw-v1 192.0.2.7
answer=$(raw 127.0.0.1 'v2(1, 0x11, 12, IPV4) + get("raw-v2")')
check "a raw v2 header from 127.0.0.1 is believed: $answer" test "$answer" = "HTTP/1.1 200 OK"

declare -A expected=([untrusted]=0 [missing]=0 [truncated]=0 [too_long]=0 [malformed]=0)
refused() { # refused NAME REASON FROM BYTES
    local answer
    answer=$(raw "$3" "$4")
    check "refused unanswered ($2): $1" test "$answer" = closed
    expected[$2]=$((${expected[$2]} + 1))
}
refused "a v1 header from 127.0.0.3, not trusted" untrusted 127.0.0.3 \
    'b"PROXY TCP4 203.0.113.66 127.0.0.1 40000 4633\r\n" + get("untrusted")'
refused "no header" missing 127.0.0.1 'get("no-header")'
refused "a truncated v1 header" truncated 127.0.0.1 'b"PROXY TCP4 192.0.2.7 127.0"'
refused "a v1 header over 107 bytes" too_long 127.0.0.1 'b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n" + get("long")'
refused "v1, an unknown family" malformed 127.0.0.1 'b"PROXY TCP5 192.0.2.7 127.0.0.1 1 2\r\n" + get("tcp5")'
refused "v2, a bad signature" malformed 127.0.0.1 'b"\r\n\r\n\x00\r\nQUIX\n" + v2(1, 0x11, 12, IPV4)[12:] + get("sig")'
refused "v2, an unknown family" malformed 127.0.0.1 'v2(1, 0x41, 12, IPV4) + get("family")'
refused "v2, a length beyond the bound (1,025)" too_long 127.0.0.1 'v2(1, 0x11, 1025, IPV4) + get("length")'
refused "v2, an address block shorter than IPv4 needs" malformed 127.0.0.1 'v2(1, 0x11, 8, IPV4[:8]) + get("short")'
refused "v2, an address block shorter than IPv6 needs" malformed 127.0.0.1 'v2(1, 0x21, 12, IPV4) + get("short6")'
# The metrics, over a connection that starts with v2 LOCAL.
metrics=$(python3 - "$PLAIN" <<'EOF'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
print(answer.decode())
EOF
)
for reason in "${!expected[@]}"; do
    counted=$(echo "$metrics" | sed -n "s/^smol_toy_proxy_protocol_rejected_total{reason=\"$reason\"} \([0-9]*\).*/\1/p")
    check "counted under reason=\"$reason\": ${counted:-none} of ${expected[$reason]}" \
        test "${counted:-none}" = "${expected[$reason]}"
done
sleep 0.2
check "the malformed headers are logged at debug level" grep -q "PROXY protocol header refused (malformed)" "$WORK/plain.log"
check "the untrusted peer's claimed address is in no log" bash -c "! grep -q 203.0.113.66 $WORK/*.log"

# 4. The rolling restart, under load through the TCP frontend.
wrk -t2 -c100 -d"${seconds}s" --latency --timeout 10s https://127.0.0.1:8443/toy >"$WORK/wrk.txt" &
load=$!
sleep 3
# went SERVER STATE N: waits up to 10 s for HAProxy to have logged N times that
# SERVER went STATE.
went() {
    for _ in $(seq 200); do
        [ "$(grep -c "Server $1 is $2" "$WORK/haproxy.log")" -ge "$3" ] && return
        sleep 0.05
    done
    echo "     HAProxy did not log $1 going $2 (time $3) within 10 s"
    return 1
}
# Each instance in turn, as long as a restart (about 9 s) fits in the load's time.
exits=()
declare -A restarts=([a]=0 [b]=0)
started=$SECONDS
while [ ${#exits[@]} -lt 2 ] || [ $((SECONDS - started + 3 + 10)) -lt "$seconds" ]; do
    server=$([ $((${#exits[@]} % 2)) = 0 ] && echo a || echo b)
    port=$([ $server = a ] && echo $A || echo $B)
    n=$((${restarts[$server]} + 1))
    restarts[$server]=$n
    kill -TERM "${pid[$port]}"
    check "$server: HAProxy takes it out" went "smol_toy_tls/$server" DOWN $n
    code=0
    wait "${pid[$port]}" || code=$?
    exits+=("$code")
    start_instance $port "$server-$n"
    # Back in both backends (rise 2) before the other instance goes.
    check "$server: started again, HAProxy puts it back" went "smol_toy_tls/$server" UP $n
    check "$server: back in the HTTP-mode backend too" went "smol_toy_http/$server" UP $n
done
wait "$load"
wrk_summary "$WORK/wrk.txt"
requests=$WRK_REQUESTS non2xx=$WRK_NON2XX errors=$WRK_ERRORS p99=$WRK_P99
echo "     rolling restart: ${#exits[@]} restarts in ${seconds} s; $requests requests through HAProxy" \
    "(TLS passthrough, retries 0), ${non2xx:-0} non-2xx, ${errors:-no socket errors}, p99 $p99;" \
    "the old instances exited ${exits[*]}"
grep -h "is DOWN\|is UP" "$WORK/haproxy.log" | sed 's/^/     haproxy: /'
check "rolling restart: requests were served" test "${requests:-0}" -gt 0
check "rolling restart: no non-2xx response" test -z "$non2xx"
check "rolling restart: no socket error" test -z "$errors"
check "rolling restart: every stopped instance exited 0" test -z "$(echo "${exits[*]}" | tr -d '0 ')"
# Each restart takes the instance out of both backends, for its /readyz.
check "HAProxy took each instance out for its /readyz 503" \
    test "$(grep -c 'is DOWN, reason: Layer7 wrong status, code: 503' "$WORK/haproxy.log")" = $((2 * ${#exits[@]}))
check "HAProxy's checks never saw a connection fail" \
    bash -c "! grep -q 'Layer4\|Layer6' $WORK/haproxy.log $WORK/haproxy.err"
# tcplog's termination state: SC, the server refused or reset the connection.
refused_sessions=$(grep -c "https_passthrough smol_toy_tls/.* SC " "$WORK/haproxy.log" || true)
check "no connection through HAProxy was refused by an instance ($refused_sessions)" \
    test "$refused_sessions" = 0

if [ "$failed" -gt 0 ]; then
    cat "$WORK/wrk.txt" >&2
    echo "haproxy: $failed check(s) failed" >&2
    exit 1
fi
echo "haproxy: PASS"
