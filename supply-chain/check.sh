#!/usr/bin/env bash
# Supply chain: bash supply-chain/check.sh
#  1. cargo deny: licenses, bans (no tokio runtime: tokio's I/O traits only; no async-std) and sources, per deny.toml;
#     then advisories, which needs the RustSec database from github.com.
#  2. RUSTSEC-2026-0174: http-types' Authorization::value and WwwAuthenticate::value
#     are compiled into http-types but never linked into smol-toy.
#  3. The crate forbids unsafe code.
#  4. Cargo.toml's rust-version is at least what every crate in the lock file needs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny

echo "== cargo deny check bans licenses sources"
cargo deny --log-level error check bans licenses sources

echo "== cargo deny check advisories"
if cargo deny --log-level error check advisories 2>/tmp/smol-toy-advisories.log; then
    echo "advisories ok"
elif grep -q "failed to fetch advisory database" /tmp/smol-toy-advisories.log; then
    # Not a pass: say plainly that this part did not run.
    echo "advisories NOT CHECKED: the advisory database (github.com/RustSec/advisory-db) is unreachable from here"
else
    cat /tmp/smol-toy-advisories.log >&2
    exit 1
fi

echo "== RUSTSEC-2026-0174 is out of reach"
# A debug build does not inline, so every function the binary can call is a symbol
# in it; the linker drops the sections of functions nothing calls.
cargo build --quiet
binary=target/debug/smol-toy
unsound='(Authorization|WwwAuthenticate)::value$'
symbols=$(mktemp)
trap 'rm -f "$symbols"' EXIT
for rlib in target/debug/deps/libhttp_types-*.rlib; do
    nm -C "$rlib" 2>/dev/null >>"$symbols" || true
done
if ! grep -qE " T http_types::auth::.*$unsound" "$symbols"; then
    echo "cannot find the functions in http-types' rlib; the check would prove nothing" >&2
    exit 1
fi
# A function smol-toy does call must show up, or the symbol check proves nothing.
nm -C "$binary" >"$symbols"
grep -q " T http_types::status_code::StatusCode::canonical_reason$" "$symbols" ||
    { echo "symbol check is broken: a called http-types function is missing" >&2; exit 1; }
if grep -E "$unsound" "$symbols"; then
    echo "the binary links a function named in RUSTSEC-2026-0174" >&2
    exit 1
fi
if grep -rnE "Authorization|WwwAuthenticate|BasicAuth|http_types::auth" src; then
    echo "smol-toy's source names http-types' auth module" >&2
    exit 1
fi
echo "compiled into http-types, absent from $binary, not named in src/"

echo "== forbid(unsafe_code)"
grep -qx '#!\[forbid(unsafe_code)\]' src/lib.rs
grep -qx '#!\[forbid(unsafe_code)\]' src/main.rs
echo "src/lib.rs and src/main.rs forbid unsafe code"

echo "== rust-version covers the lock file"
cargo metadata --locked --format-version 1 | python3 -c '
import json, sys, tomllib
def version(text):
    # "1.88" and "1.88.0" are the same version.
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))
declared = tomllib.load(open("Cargo.toml", "rb"))["package"]["rust-version"]
packages = json.load(sys.stdin)["packages"]
needed, name = max((version(p.get("rust_version") or "0"), p["name"])
                   for p in packages if p["source"])
shown = ".".join(map(str, needed))
if needed > version(declared):
    sys.exit(f"rust-version {declared} is too old: {name} needs {shown}")
print(f"rust-version {declared}: the most any locked crate needs ({name})")
'
