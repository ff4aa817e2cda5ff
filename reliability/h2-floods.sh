#!/usr/bin/env bash
# The HTTP/2 floods: bash reliability/h2-floods.sh [SECONDS] (default 5).
# For each kind (rapid reset, CONTINUATION, HPACK bomb, SETTINGS, PING, zero window,
# more streams than allowed), reliability/h2flood.py floods one cleartext HTTP/2
# connection for up to SECONDS (at least 5 for the zero window, which the 3 s write
# timeout ends) while 20 HTTP/1.1 clients ask /toy beside it.
# Passes if, for every kind: the server ends the flooding connection within 4 s
# (with GOAWAY(ENHANCE_YOUR_CALM), or at the 3 s write timeout for the zero window),
# counts it under its kind in smol_toy_http2_floods_total, every good /toy is a 200
# with p99 <= 1.1 s, and the process stays up with its RSS under 64 MiB.
source "$(dirname "$0")/lib.sh"
seconds=${1:-5}
python3 -c 'import hyperframe, hpack' 2>/dev/null || pip install -q h2
build
start_server floods --write-timeout 3s
failures=0
for kind in rapid_reset continuation hpack_bomb settings ping zero_window too_many_streams; do
    cpu_before=$(cpu_ms "$SERVER_PID")
    # The zero window is ended by the 3 s write timeout: its run lasts past it.
    run_for=$seconds
    [ "$kind" = zero_window ] && [ "$seconds" -lt 5 ] && run_for=5
    python3 reliability/h2flood.py --port "$SERVER_PORT" --kind "$kind" --seconds "$run_for" \
        >"$WORK/$kind.json"
    cpu=$(($(cpu_ms "$SERVER_PID") - cpu_before))
    rss=$(rss_kib "$SERVER_PID")
    counted=$(curl -sS "http://127.0.0.1:$SERVER_PORT/metrics" |
        sed -n "s/^smol_toy_http2_floods_total{kind=\"$kind\"} //p")
    verdict=$(python3 - "$WORK/$kind.json" "$counted" "$rss" <<'PY'
import json, sys
j, counted, rss = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
good = j["good"]
problems = []
if not j["ended_by_server"] or j["ended_after_s"] > 4:
    problems.append("not ended within 4 s")
if j["kind"] != "zero_window" and j["goaway"] != "ENHANCE_YOUR_CALM":
    problems.append(f"GOAWAY {j['goaway']}")
if counted != "1":
    problems.append(f"counted {counted!r}")
if set(good["outcomes"]) != {"200"} or good["p99"] is None or good["p99"] > 1.1:
    problems.append(f"good clients {good}")
if rss > 64 * 1024:
    problems.append(f"RSS {rss} KiB")
print("; ".join(problems) or "ok")
PY
)
    echo "$kind: ended after $(json_field "$WORK/$kind.json" "j['ended_after_s']") s," \
        "GOAWAY $(json_field "$WORK/$kind.json" "j['goaway']")," \
        "frames sent $(json_field "$WORK/$kind.json" "j['frames_sent']"), server CPU ${cpu} ms, RSS ${rss} KiB;" \
        "good /toy p99 $(json_field "$WORK/$kind.json" "j['good']['p99']") s: $verdict"
    [ "$verdict" = ok ] || failures=$((failures + 1))
done
kill -0 "$SERVER_PID" || { echo "h2-floods: FAIL (the server is gone)" >&2; exit 1; }
if [ "$failures" -eq 0 ]; then
    echo "h2-floods: PASS (7 floods ended and counted; good clients unharmed)"
else
    echo "h2-floods: FAIL ($failures flood(s))" >&2
    exit 1
fi
