#!/usr/bin/env bash
# Builds Berth's own image for compose.yaml without any container registry:
#   1. a Debian root filesystem from the Debian mirror (debootstrap) → `berth-base:bookworm`
#   2. wheels of Berth and its pinned dependencies, made on this host (the image build itself
#      needs no network) → `berth:local`
# Usage (root, after `make up` or `make test` created .venv): scripts/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
if ! docker image inspect berth-base:bookworm >/dev/null 2>&1; then
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,iptables,iproute2,ca-certificates \
    bookworm "$root" "$mirror" >/dev/null
  tar -C "$root" -c . | docker import - berth-base:bookworm >/dev/null
  rm -rf "$root"
fi
rm -rf build/wheels && mkdir -p build/wheels
.venv/bin/pip wheel -q --no-deps -w build/wheels ./shared ./services/api ./services/runtime-agent ./services/router \
  ./services/logs ./services/health ./cli
.venv/bin/pip download -q -c constraints.txt -d build/wheels build/wheels/*.whl
docker build -t berth:local -f Dockerfile.berth .
