#!/usr/bin/env bash
# The static binary and the container image, as a user would try them:
#
#   bash tests/image.sh
#
#   1. deploy/build-static.sh: ldd says the binary is static; tests/external-clients.sh
#      passes against it; `smol-toy healthcheck` exits 0 against it and 1 when nothing
#      listens.
#   2. deploy/build-image.sh: the image is built with podman; its size (at most 6 MiB),
#      user, stop signal, health check and entrypoint are read back with
#      `podman image inspect`.
#   3. What is inside the image, run. `podman run` cannot work on these machines (crun
#      cannot set the container's rlimits in this sandbox), so the image's filesystem
#      is exported (`podman create`, `podman export`) and its entrypoint run in a
#      chroot, as the image's user, with /proc bind-mounted: /toy answers, /metrics
#      works, the health check passes, SIGTERM exits 0.
# Installs podman, curl and python3 when missing; needs root for the chroot. Talks only
# to 127.0.0.1; a few minutes, most of them the static build.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/clients-lib.sh
missing=()
for tool in podman curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mounted=""
image=""
container=""
finish() {
    [ -n "$mounted" ] && umount "$mounted"
    [ -n "$container" ] && podman rm --force "$container" >/dev/null 2>&1
    [ -n "$image" ] && podman rmi --force "$image" >/dev/null 2>&1
    cleanup
}
trap finish EXIT

# 1. The static binary ---------------------------------------------------------------
binary=$(bash deploy/build-static.sh 2>"$work/build-static.log" | tail -n 1)
[ -x "$binary" ] || { cat "$work/build-static.log"; echo "FAIL the static build"; exit 1; }
echo "static binary: $binary, $(stat -c %s "$binary") bytes"
check "ldd: the binary is static" sh -c "ldd '$binary' 2>&1 | grep -Eq 'statically linked|not a dynamic executable'"
check "tests/external-clients.sh passes against the static binary" \
    sh -c "bash tests/external-clients.sh '$binary' >'$work/external.log' 2>&1 || { cat '$work/external.log'; exit 1; }"

healthcheck_against_the_static_binary() {
    local port
    port=$(free_port)
    "$binary" --host 127.0.0.1 --port "$port" --delay 0 >/dev/null 2>&1 &
    local pid=$!
    pids+=($pid)
    for _ in $(seq 50); do "$binary" healthcheck --port "$port" >/dev/null 2>&1 && break; sleep 0.1; done
    "$binary" healthcheck --port "$port" || return 1
    kill -TERM "$pid"
    wait "$pid" || return 1
    # Nothing listens any more: exit 1, with the reason.
    local out code=0
    out=$("$binary" healthcheck --port "$port" 2>&1) || code=$?
    echo "$out"
    [ "$code" = 1 ] && grep -q "refused" <<<"$out"
}
check "healthcheck: 0 against a running server, 1 when nothing listens" healthcheck_against_the_static_binary

# 2. The image -----------------------------------------------------------------------
image=$(bash deploy/build-image.sh "localhost/smol-toy:test-$$" 2>"$work/build-image.log" | tail -n 1)
if ! podman image exists "$image" 2>/dev/null; then
    cat "$work/build-image.log"
    echo "FAIL the image build"
    exit 1
fi
inspect() { podman image inspect --format "$1" "$image"; }
size=$(inspect '{{.Size}}')
echo "image: $image, $size bytes; user $(inspect '{{.Config.User}}'), stop signal $(inspect '{{.Config.StopSignal}}')"
echo "  entrypoint $(inspect '{{json .Config.Entrypoint}}'), health check $(inspect '{{json .Config.Healthcheck.Test}}')"
check "the image is at most 6 MiB ($size bytes)" test "$size" -le $((6 * 1024 * 1024))
check "the image runs as user 65534" test "$(inspect '{{.Config.User}}')" = 65534:65534
check "the stop signal is SIGTERM" test "$(inspect '{{.Config.StopSignal}}')" = SIGTERM
check "the entrypoint is /smol-toy" test "$(inspect '{{json .Config.Entrypoint}}')" = '["/smol-toy"]'
check "HEALTHCHECK runs smol-toy healthcheck" \
    test "$(inspect '{{json .Config.Healthcheck.Test}}')" = '["CMD","/smol-toy","healthcheck"]'
check "port 4567 is exposed" grep -q '"4567/tcp"' <<<"$(inspect '{{json .Config.ExposedPorts}}')"
labels=$(inspect '{{json .Labels}}')
echo "  labels $labels"
has_labels() { for label in "$@"; do grep -q "\"org.opencontainers.image.$label\"" <<<"$labels" || return 1; done; }
check "the labels give version, source and license" has_labels version source licenses

# 3. What is inside, run in a chroot ---------------------------------------------------
container=$(podman create "$image")
root="$work/rootfs"
mkdir -p "$root"
podman export "$container" | tar -x -C "$root"
echo "the image's files: $(cd "$root" && find . -mindepth 1 -not -path './proc*' -not -path './dev*' \
    -not -path './etc*' -not -path './run*' -not -path './sys*' | tr '\n' ' ')"
check "the image holds the binary, and nothing else of its own" test -x "$root/smol-toy"
mkdir -p "$root/proc"
mount --bind /proc "$root/proc" && mounted="$root/proc"

run_the_image() {
    local port
    port=$(free_port)
    # As the image runs it: its user, its entrypoint, the configuration in SMOL_TOY_*.
    SMOL_TOY_HOST=127.0.0.1 SMOL_TOY_PORT=$port SMOL_TOY_DELAY=1s \
        chroot --userspec=65534:65534 "$root" /smol-toy >"$work/image.out" 2>"$work/image.err" &
    local pid=$!
    pids+=($pid)
    local body=""
    for _ in $(seq 50); do
        body=$(curl -s --max-time 3 "http://127.0.0.1:$port/toy") && break
        sleep 0.1
    done
    echo "/toy: $body"
    [ "$body" = '{"result":1}' ] || { cat "$work/image.err"; return 1; }
    curl -s --max-time 3 "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || return 1
    grep -q '^smol_toy_http_requests_total{.*route="/toy".*status="200".*} 1$' "$work/metrics.txt" ||
        { grep requests_total "$work/metrics.txt"; return 1; }
    # Read from the bind-mounted /proc: without it these would be missing or zero.
    grep -Eq '^process_resident_memory_bytes [1-9]' "$work/metrics.txt" ||
        { grep ^process_ "$work/metrics.txt"; return 1; }
    SMOL_TOY_HOST=127.0.0.1 SMOL_TOY_PORT=$port \
        chroot --userspec=65534:65534 "$root" /smol-toy healthcheck || return 1
    kill -TERM "$pid"
    local code=0
    wait "$pid" || code=$?
    echo "exit code after SIGTERM: $code"
    [ "$code" = 0 ]
}
check "the image's entrypoint in a chroot: /toy, /metrics, healthcheck, SIGTERM exits 0" run_the_image
echo "image.sh: $passed passed, $failed failed"
[ "$failed" = 0 ]
