#!/usr/bin/env bash
# Instructions per iteration of each micro-benchmark (benches/request_path.rs), counted
# by valgrind's callgrind: unlike time, the count repeats from run to run, so a small
# change in the request path shows. An iteration serves one in-memory connection and
# includes divan's own per-iteration work, the same for every version of the code.
#
#   bash bench/instructions.sh            # every benchmark
#   bash bench/instructions.sh healthz_wrk
#
# Each figure is (count at 400 iterations - count at 200) / 200, so that start-up
# cancels out. Installs valgrind if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
}
binary=$(cargo bench --bench request_path --no-run --message-format json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "request_path" and m["executable"]:
        print(m["executable"])')
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
    benches=(healthz_wrk healthz_wrk_pipelined_16 toy_no_delay_curl healthz_browser_headers
        bad_request_400 async_h1_alone::decode async_h1_alone::encode)
fi
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" --bench \
        --exact "request_path::$1" --sample-count 1 --sample-size "$2" 2>&1 |
        awk '/Collected/ {print $4}'
}
printf '%-28s %s\n' benchmark "instructions per iteration"
for bench in "${benches[@]}"; do
    low=$(count "$bench" 200)
    high=$(count "$bench" 400)
    printf '%-28s %s\n' "$bench" $(((high - low) / 200))
done
