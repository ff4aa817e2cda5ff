#!/usr/bin/env bash
# Soak: bash reliability/soak.sh [SECONDS] (default 600; CI runs 60)
# wrk keeps 5,000 connections asking for /toy for SECONDS while the server's RSS and
# open descriptors are sampled every 10 s. After a warm-up (the first sixth of the
# run, at least 10 s) neither may trend upwards: the least-squares slope over the
# rest, times its length, must stay under 5 % of the mean (and 1 MiB) for RSS, and
# under 1 % (and 10) for descriptors. wrk must see no error and no non-2xx.
source "$(dirname "$0")/lib.sh"
seconds=${1:-600}
need wrk wrk
build
start_server soak

wrk -t2 -c5000 -d"${seconds}s" --timeout 10s --latency "http://127.0.0.1:$SERVER_PORT/toy" \
    >"$WORK/wrk.txt" &
load=$!
CHILDREN+=("$load")
echo "seconds rss_kib fds" >"$WORK/samples.txt"
for ((t = 10; t < seconds; t += 10)); do
    sleep 10
    echo "$t $(rss_kib "$SERVER_PID") $(open_fds "$SERVER_PID")" | tee -a "$WORK/samples.txt"
done
wait "$load"

python3 - "$WORK/samples.txt" "$WORK/wrk.txt" "$seconds" <<'PY'
import re, sys
samples_path, wrk_path, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [tuple(map(int, line.split())) for line in open(samples_path).readlines()[1:]]
warm_up = max(10, seconds // 6)
steady = [r for r in rows if r[0] > warm_up]
if len(steady) < 3:
    sys.exit("soak: too few samples after the warm-up")

def growth(column):
    """Least-squares slope of the column over the steady samples, times their span."""
    xs = [r[0] for r in steady]
    ys = [r[column] for r in steady]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope * (xs[-1] - xs[0]), my

rss_growth, rss_mean = growth(1)
fd_growth, fd_mean = growth(2)
wrk = open(wrk_path).read()
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
errors = re.search(r"Socket errors:.*", wrk)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
p99 = re.search(r"99%\s+(\S+)", wrk).group(1)
print(f"soak: {seconds} s at 5000 connections, {requests} requests, p99 {p99}, "
      f"{errors.group(0) if errors else 'no socket errors'}, {non2xx.group(1) if non2xx else 0} non-2xx")
print(f"after {warm_up} s warm-up: RSS mean {rss_mean / 1024:.1f} MiB, trend {rss_growth:+.0f} KiB; "
      f"descriptors mean {fd_mean:.0f}, trend {fd_growth:+.1f}")
ok = (rss_growth < max(0.05 * rss_mean, 1024) and fd_growth < max(0.01 * fd_mean, 10)
      and not errors and not non2xx and requests > 0)
print("soak: PASS" if ok else "soak: FAIL")
sys.exit(0 if ok else 1)
PY
