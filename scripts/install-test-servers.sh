#!/usr/bin/env bash
# Builds the object storage test servers from source, at pinned versions,
# into .cache/bin (ignored by git), with the Go toolchain and module proxy,
# and installs moto (a local AWS KMS) from PyPI into a venv (install-moto.sh):
#
#   minio            S3-compatible server (real multipart rules)
#   fake-gcs-server  Google Cloud Storage emulator (resumable uploads)
#   moto             AWS KMS (and other AWS services), moto[server] pinned
#   toxiproxy-server Shopify's fault-injecting TCP proxy (chaos tests)
#
# Usage: scripts/install-test-servers.sh [minio|fake-gcs-server|toxiproxy-server|moto]...  (default: all four)
#
# A server already built at its pinned version is skipped, so a second run
# takes milliseconds. Each build writes NAME.version beside the binary; the
# test helpers (test/support/) print it. Concurrent runs are serialised per
# server with flock.
set -euo pipefail

declare -A MODULES=(
  # MinIO publishes no semver tags, so the Go proxy knows it by pseudo-version (commit of 2026-02-12).
  [minio]=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
  [fake-gcs-server]=github.com/fsouza/fake-gcs-server@v1.56.1
  [toxiproxy-server]=github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
)

cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
mkdir -p "$bin"

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(minio fake-gcs-server toxiproxy-server moto)

for name in "${names[@]}"; do
  if [[ $name == moto ]]; then
    bash scripts/install-moto.sh
    continue
  fi
  module="${MODULES[$name]:-}"
  if [[ -z $module ]]; then
    echo "install-test-servers: unknown server '$name' (known: ${!MODULES[*]} moto)" >&2
    exit 2
  fi
  (
    flock 9
    if [[ -x $bin/$name && "$(cat "$bin/$name.version" 2>/dev/null)" == "$module" ]]; then
      echo "install-test-servers: $name $module already built" >&2
      exit 0
    fi
    if ! command -v go >/dev/null; then
      echo "install-test-servers: the Go toolchain is needed to build $name ($module)" >&2
      exit 1
    fi
    echo "install-test-servers: building $name $module ..." >&2
    started=$SECONDS
    rm -f "$bin/$name.version"
    # GOTOOLCHAIN=local: build with the installed Go, never download another.
    # Into a scratch GOBIN first: go install names the binary after the
    # package's folder (toxiproxy's is cmd/server), the tests know it by $name.
    scratch="$bin/.build-$name"
    rm -rf "$scratch"
    GOBIN="$scratch" GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath "$module"
    mv "$scratch"/* "$bin/$name"
    rmdir "$scratch"
    echo "$module" >"$bin/$name.version"
    echo "install-test-servers: built $name in $((SECONDS - started)) s" >&2
  ) 9>"$bin/$name.lock"
done
