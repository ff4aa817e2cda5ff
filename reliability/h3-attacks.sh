#!/usr/bin/env bash
# The attacks on HTTP/3 and QUIC: bash reliability/h3-attacks.sh [SECONDS] [KIND...]
# (default 5 s each, every kind). One server (HTTPS and HTTP/3, --header-timeout 3s
# --write-timeout 3s --keep-alive-timeout 10s); each attack, written with aioquic in
# reliability/h3attack.py, runs for up to SECONDS while 4 HTTP/3 and 4 HTTPS/1.1
# clients ask /toy beside it, in a process of their own.
# KIND: rapid_reset endless_headers endless_control unidirectional second_control
#   slow_headers handshakes amplification idle (H3_IDLE_CONNECTIONS, default 1000).
# Passes if, for every kind: the server ends the attack within 4 s (the slow
# HEADERS: at the 3 s header timeout plus 1 s; the idle connections: at the 10 s
# keep-alive timeout plus 1 s after the last opened), counts it in /metrics, every
# good /toy is a 200 with p99 <= 1.1 s on both protocols, the server's RSS stays
# under 64 MiB, and an unanswered Initial draws at most 3x its bytes.
source "$(dirname "$0")/lib.sh"
seconds=${1:-5}
shift || true
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(rapid_reset endless_headers endless_control unidirectional
    second_control slow_headers handshakes amplification idle)
python3 -c 'import aioquic' 2>/dev/null || pip install -q aioquic
build
tls_option --tls
start_server h3attacks "${TLS_ARGS[@]}" --header-timeout 3s --write-timeout 3s \
    --keep-alive-timeout 10s
wait_for_line "$WORK/h3attacks.out" "(HTTP/3, UDP)" 5

# counted NAME: the sample NAME in a scrape.
counted() {
    curl -sSk "https://127.0.0.1:$SERVER_PORT/metrics" | sed -n "s/^$1 //p"
}

failures=0
for kind in "${kinds[@]}"; do
    case $kind in
        rapid_reset) metric='smol_toy_http3_attacks_total{kind="rapid_reset"}' ;;
        endless_headers | endless_control) metric='smol_toy_http3_attacks_total{kind="frame_too_large"}' ;;
        unidirectional | second_control) metric='smol_toy_http3_attacks_total{kind="unidirectional_streams"}' ;;
        slow_headers) metric='smol_toy_http3_attacks_total{kind="slow_headers"}' ;;
        handshakes | amplification) metric='smol_toy_quic_handshakes_total{result="retry"}' ;;
        idle) metric='smol_toy_connections_closed_total{reason="idle_timeout"}' ;;
        *) echo "unknown kind $kind" >&2; exit 2 ;;
    esac
    run_for=$seconds
    extra=()
    # The slow HEADERS are cut at the 3 s header timeout: the run lasts past it.
    [ "$kind" = slow_headers ] && [ "$seconds" -lt 5 ] && run_for=5
    if [ "$kind" = idle ]; then
        run_for=$((seconds > 25 ? seconds : 25))
        extra=(--count "${H3_IDLE_CONNECTIONS:-1000}" --pid "$SERVER_PID")
    fi
    before=$(counted "$metric")
    cpu_before=$(cpu_ms "$SERVER_PID")
    python3 reliability/h3attack.py --port "$SERVER_PORT" --kind "$kind" --seconds "$run_for" \
        "${extra[@]}" >"$WORK/$kind.json"
    cpu=$(($(cpu_ms "$SERVER_PID") - cpu_before))
    rss=$(rss_kib "$SERVER_PID")
    after=$(counted "$metric")
    verdict=$(python3 - "$WORK/$kind.json" "$((after - before))" "$rss" <<'PY'
import json, sys
j, counted, rss = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
kind, problems = j["kind"], []
limit = 11 if kind == "idle" else 4
if not j["ended_by_server"] or j["ended_after_s"] > limit:
    problems.append(f"not ended within {limit} s")
if kind == "amplification" and j["ratio"] > 3:
    problems.append(f"{j['ratio']}x the bytes sent")
if counted < 1:
    problems.append("not counted")
for protocol, good in j["good"].items():
    if good["outcomes"] != ["200"] or good["p99"] is None or good["p99"] > 1.1:
        problems.append(f"good {protocol} clients: {good}")
if rss > 64 * 1024:
    problems.append(f"RSS {rss} KiB")
print("; ".join(problems) or "ok")
PY
)
    summary=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
shown = {k: v for k, v in j.items() if k not in ("good", "kind")}
print(", ".join(f"{k} {v}" for k, v in shown.items()))
print("good /toy p99: HTTP/3 %s s, HTTPS/1.1 %s s" % (j["good"]["http3"]["p99"], j["good"]["http1"]["p99"]))
' "$WORK/$kind.json" | paste -sd';')
    echo "$kind: $summary; counted $((after - before)); server CPU ${cpu} ms, RSS ${rss} KiB: $verdict"
    [ "$verdict" = ok ] || failures=$((failures + 1))
done
kill -0 "$SERVER_PID" || { echo "h3-attacks: FAIL (the server is gone)" >&2; exit 1; }
if [ "$failures" -eq 0 ]; then
    echo "h3-attacks: PASS (${#kinds[@]} attack(s) ended and counted; good clients unharmed)"
else
    echo "h3-attacks: FAIL ($failures attack(s))" >&2
    exit 1
fi
