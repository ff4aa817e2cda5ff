#!/usr/bin/env bash
# The deployment files against the real tools: bash tests/deploy.sh
#
#   1. deploy/systemd/smol-toy.{socket,service}: `systemd-analyze verify` is clean, and
#      `systemd-analyze security --offline=true` rates the service at 2.0 or less.
#   2. systemd's own socket activation tool, `systemd-socket-activate -l
#      127.0.0.1:PORT -l PATH target/release/smol-toy`: both passed sockets, TCP and
#      Unix, are served, and SIGTERM ends the server with exit code 0.
#   3. deploy/nginx-unix.conf: nginx reaches smol-toy over a Unix socket; the access
#      log shows `unix` as the peer and the client nginx names; /metrics is refused
#      through nginx and served on the socket.
# Installs systemd, nginx and curl if missing. Talks only to 127.0.0.1; about 10 s.
source "$(dirname "$0")/../reliability/lib.sh"
need systemd-analyze systemd
need nginx nginx-light
need curl curl
build
failed=0
# fetch ARGS...: curl, retried every 0.1 s for up to 5 s while nothing answers. Only
# the answering attempt's output is printed: curl writes `-w` output (000) even when
# it could not connect, and a retry must not leave that in front of the real status.
fetch() {
    local out
    for _ in $(seq 50); do
        out=$(curl -s --max-time 5 "$@") && { printf '%s' "$out"; return; }
        sleep 0.1
    done
}
check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failed=$((failed + 1)); fi
}

# 1. The unit files, with ExecStart pointing at this build (verify checks that it exists).
mkdir -p "$WORK/units"
cp deploy/systemd/smol-toy.socket "$WORK/units/"
sed "s|^ExecStart=/usr/local/bin/smol-toy|ExecStart=$BINARY|" deploy/systemd/smol-toy.service \
    >"$WORK/units/smol-toy.service"
(cd "$WORK/units" && systemd-analyze verify smol-toy.socket smol-toy.service) >"$WORK/verify.txt" 2>&1
check "systemd-analyze verify is clean" test ! -s "$WORK/verify.txt"
cat "$WORK/verify.txt"
exposure=$(systemd-analyze security --offline=true "$WORK/units/smol-toy.service" 2>&1 |
    sed -n 's/.*Overall exposure level for smol-toy.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure ${exposure:-unknown}"
check "exposure of 2.0 or less" python3 -c "import sys; sys.exit(not float('${exposure:-99}') <= 2.0)"

# 2. systemd-socket-activate passes listening sockets as systemd does: here a TCP
#    one and a Unix one, both to be served.
port=4617
activated="$WORK/activated.sock"
RUST_LOG=info systemd-socket-activate -l "127.0.0.1:$port" -l "$activated" "$BINARY" --delay 0 \
    >"$WORK/activate.out" 2>"$WORK/activate.log" &
activate=$!
CHILDREN+=($activate)
status=$(fetch -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
check "systemd-socket-activate: /healthz answers 200 over TCP" test "$status" = 200
status=$(fetch -o /dev/null -w '%{http_code}' --unix-socket "$activated" http://localhost/healthz)
check "systemd-socket-activate: /healthz answers 200 over the Unix socket" test "$status" = 200
kill -TERM "$activate"
code=0
wait "$activate" || code=$?
check "systemd-socket-activate: SIGTERM exits 0" test "$code" = 0
# Log lines leave in batches: read them once the server is gone.
check "systemd-socket-activate: the log says so" grep -q "socket activation: serving 2 socket" "$WORK/activate.log"

# 3. nginx over the Unix socket.
socket="$WORK/smol-toy.sock"
RUST_LOG=info "$BINARY" --unix-socket "$socket" --trusted-proxies unix --delay 0 \
    >"$WORK/unix.out" 2>"$WORK/unix.log" &
server=$!
CHILDREN+=($server)
wait_for_line "$WORK/unix.out" "listening on unix:$socket" 5
check "the socket file has mode 660" test "$(stat -c %a "$socket")" = 660
mkdir -p "$WORK/nginx"
sed "s|unix:/run/smol-toy/smol-toy.sock|unix:$socket|; s|listen 8080|listen 127.0.0.1:8097|" \
    deploy/nginx-unix.conf >"$WORK/nginx/nginx.conf"
# The workers run as this user (root in CI): they must be able to open the socket,
# which only its owner and group may (mode 660), in a directory only its owner may enter.
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
    -g "daemon off; user $(id -un); pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;" &
CHILDREN+=($!)
body=$(fetch -H "X-Forwarded-For: 203.0.113.9" http://127.0.0.1:8097/toy)
check "nginx over the Unix socket: /toy answers" test "$body" = '{"result":1}'
metrics_public=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8097/metrics)
metrics_local=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$socket" http://localhost/metrics)
check "/metrics: 403 through nginx, 200 on the socket" test "$metrics_public/$metrics_local" = 403/200
kill -TERM "$server"
code=0
wait "$server" || code=$?
check "SIGTERM exits 0" test "$code" = 0
check "the socket file is removed at exit" test ! -e "$socket"
line=$(grep 'smol_toy::access.*"GET /toy' "$WORK/unix.log" | head -1)
echo "access line: $line"
check "the access line shows the client nginx names, and unix as the peer" \
    grep -q '] 127.0.0.1 unix "GET /toy HTTP/1.1" 200' <<<"$line"

if [ "$failed" -gt 0 ]; then
    echo "deploy: $failed check(s) failed" >&2
    cat "$WORK/activate.log" "$WORK/unix.log" >&2
    exit 1
fi
echo "deploy: PASS"
