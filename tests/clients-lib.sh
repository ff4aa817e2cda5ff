# What the client scripts (external-clients.sh, tls.sh, http2.sh) share: a work directory,
# the processes to stop at exit, and `check`, which runs one check and counts it.
# Sourced; the caller sets `set -uo pipefail`.
work=$(mktemp -d)
passed=0
failed=0
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

check() { # check NAME COMMAND...: runs the command, counts and reports the result
    local name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/     | /' "$work/out" | tail -n 25
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# test_certificates CA-NAME: a test CA, and a leaf it signs for localhost and
# 127.0.0.1 (ECDSA P-256), in $work: ca.pem, leaf.pem and leaf.key.
test_certificates() {
    (
        cd "$work" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=$1" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=localhost" -keyout leaf.key -out leaf.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile leaf.ext -out leaf.pem 2>/dev/null
    )
}

# start_server NAME OPTIONS...: starts $binary on 127.0.0.1, port 0, with OPTIONS;
# sets ${NAME_port} from the port its first line says it listens on.
start_server() {
    local name=$1
    shift
    RUST_LOG=warn "$binary" --host 127.0.0.1 --port 0 "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n '1s|^listening on https\?://127.0.0.1:||p' "$work/$name.out")
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "smol-toy did not start:"; cat "$work/$name.err"; exit 1; }
    printf -v "${name}_port" '%s' "$port"
}
