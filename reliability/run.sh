#!/usr/bin/env bash
# Every reliability check, one after the other: bash reliability/run.sh [--quick]
# --quick is what .ci/run does; without it the soak runs 10 minutes
# and the fuzzer 30.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --quick ]; then soak=60 fuzz=30 rolling=24 stall=2 floods=2 idle=300; else soak=600 fuzz=1800 rolling=40 stall=5 floods=5 idle=1000; fi
# Each check's start, with the minutes and seconds since the first.
run() {
    printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"
    "$@"
}
run bash supply-chain/check.sh
run bash reliability/drain.sh 5000
run bash reliability/drain.sh 2000 --tls
run bash reliability/h2-drain.sh 2000
run bash reliability/slowloris.sh
run bash reliability/slowloris.sh --tls
run bash reliability/descriptors.sh
run bash reliability/descriptors.sh --tls
run bash reliability/log-stall.sh "$stall"
run bash reliability/h2-floods.sh "$floods"
run bash reliability/h3-drain.sh 2000
H3_IDLE_CONNECTIONS=$idle run bash reliability/h3-attacks.sh "$floods"
run bash reliability/rolling-restart.sh "$rolling"
run bash reliability/soak.sh "$soak"
run bash fuzz/run.sh "$fuzz"
