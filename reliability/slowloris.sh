#!/usr/bin/env bash
# Slow clients: bash reliability/slowloris.sh [--tls]
# slowhttptest holds 1,000 slow-header connections (Slowloris), then opens 1,000
# slow-body connections (R-U-Dead-Yet), while wrk keeps 20 connections asking for
# /toy. Passes if the valid client's p99 stays <= 1.1 s with no errors, every slow
# connection is closed by the end, and slow-header connections are held until the
# header timeout (10 s) and cut right after it.
# With --tls, all of it over HTTPS, and first 500 slow ClientHellos (a byte a second)
# that must be cut at the header timeout too.
source "$(dirname "$0")/lib.sh"
need slowhttptest slowhttptest
need wrk wrk
tls_option "${1:-}"
scheme=http
[ ${#TLS_ARGS[@]} -gt 0 ] && scheme=https
build
start_server slow --header-timeout 10s "${TLS_ARGS[@]}"
url="$scheme://127.0.0.1:$SERVER_PORT/toy"

# slow_hellos: 500 connections each trickle a ClientHello, a byte a second, beside
# the valid client; each must be closed 10 s (the header timeout) after it opened.
slow_hellos() {
    python3 - "$SERVER_PORT" >"$WORK/hellos.txt" <<'PY' &
import asyncio, sys, time
port = int(sys.argv[1])
# A record header that promises a 512-byte ClientHello, then the hello's first bytes.
hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]) + bytes(40)
async def one():
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    for byte in hello:
        writer.write(bytes([byte]))
        try:
            await writer.drain()
            if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                break
        except asyncio.TimeoutError:
            continue
        except OSError:
            break
    writer.close()
    return time.monotonic() - opened
async def main():
    held = await asyncio.gather(*(one() for _ in range(500)))
    held.sort()
    print(f"{len(held)} {held[0]:.2f} {held[-1]:.2f}")
asyncio.run(main())
PY
    local hellos=$!
    CHILDREN+=("$hellos")
    sleep 2
    wrk -t1 -c20 -d15s --latency --timeout 5s "$url" >"$WORK/hellos-wrk.txt"
    wait "$hellos"
    python3 - "$WORK/hellos.txt" "$WORK/hellos-wrk.txt" <<'PY'
import re, sys
count, first, last = open(sys.argv[1]).read().split()
wrk = open(sys.argv[2]).read()
value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", wrk).groups()
p99 = float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
errors = re.search(r"Socket errors:.*", wrk)
print(f"slow-hellos: {count} slow ClientHellos, cut after {first} to {last} s; valid client: "
      f"{requests} requests, p99 {p99:.3f} s, {errors.group(0) if errors else 'no socket errors'}")
ok = int(count) == 500 and 9.5 <= float(first) and float(last) <= 12 and p99 <= 1.1
sys.exit(0 if ok and not errors and requests > 0 else 1)
PY
}

# attack NAME SLOWHTTPTEST-OPTIONS...: runs one attack beside the valid client.
attack() {
    local name=$1
    shift
    slowhttptest -c 1000 -r 500 -i 3 -l 20 -p 3 "$@" -u "$url" -g -o "$WORK/$name" \
        >"$WORK/$name.out" 2>&1 &
    local slow=$!
    CHILDREN+=("$slow")
    sleep 2 # let the slow connections open
    wrk -t1 -c20 -d15s --latency --timeout 5s "$url" >"$WORK/$name-wrk.txt"
    wait "$slow" || true
    python3 - "$name" "$WORK/$name.csv" "$WORK/$name-wrk.txt" "$WORK/$name.out" <<'PY'
import csv, re, sys
name, csv_path, wrk_path, out_path = sys.argv[1:]
rows = [{k: int(v) for k, v in row.items()} for row in csv.DictReader(open(csv_path))]
held = max(r["Connected"] for r in rows)
first_close = next((r["Seconds"] for r in rows if r["Closed"] > 0), None)
# slowhttptest stops once the server has closed every slow connection.
out = open(out_path).read()
ended = re.search(r"Test ended on (\d+)\w* second.*?\n.*?Exit status:\W*(\w[^\n\x1b]*)", out, re.S)
all_closed = int(ended.group(1)) if ended and "No open connections left" in ended.group(2) else None
wrk = open(wrk_path).read()
value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", wrk).groups()
p99 = float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
errors = re.search(r"Socket errors:.*", wrk)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
print(f"{name}: {held} slow connections held at once; first closed at {first_close} s, "
      f"all closed by {all_closed} s; valid client: {requests} requests, "
      f"p99 {p99:.3f} s, {errors.group(0) if errors else 'no socket errors'}, "
      f"{non2xx.group(1) if non2xx else 0} non-2xx")
ok = p99 <= 1.1 and not errors and not non2xx and all_closed is not None and requests > 0
if name == "slow-headers":
    # Opened over the first 2 s, each is cut 10 s after its first byte.
    ok = ok and held >= 950 and first_close >= 9 and all_closed <= 15
sys.exit(0 if ok else 1)
PY
}

status=0
if [ ${#TLS_ARGS[@]} -gt 0 ]; then slow_hellos || status=1; fi
attack slow-headers -H || status=1
attack slow-body -B -s 8192 || status=1
if [ "$status" = 0 ]; then echo "slowloris${CLIENT_TLS:+ (HTTPS)}: PASS"; else echo "slowloris: FAIL" >&2; exit 1; fi
