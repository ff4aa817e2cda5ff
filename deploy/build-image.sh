#!/usr/bin/env bash
# Builds the container image deploy/Containerfile describes, from the static binary
# deploy/build-static.sh makes, with podman. Prints the image's name as its last line.
#
#   bash deploy/build-image.sh [NAME]      # NAME defaults to localhost/smol-toy:VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name=${1:-localhost/smol-toy:$version}
binary=$(bash deploy/build-static.sh | tail -n 1)
# Where the source is: the origin remote if there is one.
source=$(git config --get remote.origin.url 2>/dev/null || echo unknown)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/smol-toy"
# --format docker: the OCI image format has no HEALTHCHECK; podman drops it there.
podman build --quiet --format docker --file deploy/Containerfile \
    --build-arg "VERSION=$version" --build-arg "SOURCE=$source" \
    --tag "$name" "$context" >&2
size=$(podman image inspect --format '{{.Size}}' "$name")
echo "build-image: $name, $size bytes" >&2
echo "$name"
