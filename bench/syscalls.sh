#!/usr/bin/env bash
# Counts what one request costs a server in system calls, context switches and CPU:
# perf stat on the server process for 5 s while wrk keeps CONNECTIONS busy on PATH.
#
#   bash bench/syscalls.sh smol-toy 1000 /toy
#   bash bench/syscalls.sh axum 1000 /toy
#   bash bench/syscalls.sh smol-toy 1000 /toy --threads 1   # more arguments go to smol-toy
#
# Prints one line per server: CPU (task-clock) and each count divided by the responses
# written in the window (one sendto per response for smol-toy, one writev for axum).
# Needs perf (Debian's linux-perf), wrk, and the release builds bench/run.sh makes.
set -euo pipefail
cd "$(dirname "$0")/.."
server=$1 connections=$2 path=$3
shift 3
port=4631
case $server in
    smol-toy) command=(target/release/smol-toy --host 127.0.0.1 --port "$port" "$@") ;;
    axum) command=(bench/peers/axum-toy/target/release/axum-toy "$port" 1000) ;;
    *) echo "usage: $0 smol-toy|axum CONNECTIONS PATH [smol-toy arguments]" >&2; exit 2 ;;
esac
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
RUST_LOG=warn "${command[@]}" >/dev/null 2>&1 &
pid=$!
sleep 0.7
wrk -t2 -c"$connections" -d13s --timeout 10s "http://127.0.0.1:$port$path" >"$work/wrk.txt" 2>&1 &
load=$!
# Measure in the middle of the load, after the connections are open.
sleep 4
events=task-clock,context-switches
for call in futex epoll_ctl epoll_wait epoll_pwait write read recvfrom sendto writev; do
    events+=,syscalls:sys_enter_$call
done
perf stat -x, -e "$events" -p "$pid" -- sleep 5 2>"$work/perf.csv"
wait "$load"
python3 - "$server $*" "$work/perf.csv" <<'PY'
import csv, sys
label, path = sys.argv[1], sys.argv[2]
counts = {}
for row in csv.reader(open(path)):
    if len(row) > 3 and row[0][:1].isdigit():
        counts[row[2].replace("syscalls:sys_enter_", "")] = float(row[0])
responses = max(counts.get("sendto", 0), counts.get("writev", 0))
if not responses:
    sys.exit(f"{label}: no response written in the window")
figures = [f"{label.strip()}: {responses / 5:.0f} responses/s",
           f"CPU {counts['task-clock'] * 1000 / responses:.1f} µs"]
for name in ["context-switches", "futex", "epoll_ctl", "epoll_wait", "epoll_pwait", "write",
             "read", "recvfrom", "sendto", "writev"]:
    if counts.get(name):
        figures.append(f"{name} {counts[name] / responses:.2f}")
print("  ".join(figures) + "  (per response)")
PY
