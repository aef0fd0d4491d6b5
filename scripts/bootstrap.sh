#!/usr/bin/env bash
# Installs what Berth needs on a fresh Debian machine, skipping what is already there:
#   - Debian packages: docker.io (engine), busybox-static (test images), python3-venv
#   - a running Docker engine (starts dockerd when no engine answers)
#   - the Python virtualenv in .venv with every pinned dependency (constraints.txt)
#   - the dashboard: frontend/node_modules (npm ci, pinned) and frontend/dist (vite build), when
#     missing or older than their sources; with --dev also Debian's chromium (dashboard e2e tests), docker-registry, pebble and debootstrap
# Usage: scripts/bootstrap.sh [--dev]   (--dev adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
[ -x /bin/busybox ] && file_is_static=$(ldd /bin/busybox 2>&1 | grep -c 'not a dynamic' || true) || file_is_static=0
[ "${file_is_static:-0}" = "1" ] || need_apt+=(busybox-static)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
[ "${1:-}" = --dev ] && ! [ -x /usr/bin/chromium ] && need_apt+=(chromium)
# A local registry on 127.0.0.1 for the test of pulling images (no remote registry here).
[ "${1:-}" = --dev ] && ! command -v docker-registry >/dev/null 2>&1 && need_apt+=(docker-registry)
# pebble: a local ACME CA and DNS server (pebble-challtestsrv) for the certificate tests.
[ "${1:-}" = --dev ] && ! command -v pebble-challtestsrv >/dev/null 2>&1 && need_apt+=(pebble)
# debootstrap: the Debian base of the realistic Python test app (tests/support/python_app.py).
[ "${1:-}" = --dev ] && ! command -v debootstrap >/dev/null 2>&1 && need_apt+=(debootstrap)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: need root to install: ${need_apt[*]}" >&2; exit 1
  fi
  echo "bootstrap: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: no Docker engine answers; starting dockerd"
  mkdir -p /var/log
  # its own session: dockerd must outlive the shell (and process group) that started it
  setsid nohup dockerd >/var/log/berth-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/berth-dockerd.log" >&2; exit 1; }
fi

stamp=.venv/.berth-installed
inputs=(constraints.txt shared/pyproject.toml services/*/pyproject.toml cli/pyproject.toml)
if [ ! -f "$stamp" ] || [ -n "$(find "${inputs[@]}" -newer "$stamp" 2>/dev/null)" ] || { [ "${1:-}" = --dev ] && ! [ -x .venv/bin/playwright ]; }; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  pkgs=(-e shared -e services/api -e services/runtime-agent -e services/router -e services/logs -e services/health -e cli)
  dev=()
  [ "${1:-}" = --dev ] && dev=(pytest pytest-asyncio pytest-timeout ruff mypy asyncpg-stubs playwright schemathesis)
  .venv/bin/pip install -q -c constraints.txt "${pkgs[@]}" "${dev[@]}"
  touch "$stamp"
fi

# The dashboard (frontend/): npm with exact versions from package-lock.json (no download
# addresses recorded: frontend/.npmrc), then a Vite build into frontend/dist, which the API
# serves at /. Skipped when nothing changed; without Node.js the API says how to build it.
if command -v npm >/dev/null 2>&1; then
  fe=frontend
  if [ ! -f "$fe/node_modules/.berth-installed" ] || [ "$fe/package-lock.json" -nt "$fe/node_modules/.berth-installed" ]; then
    echo "bootstrap: installing the dashboard's npm packages"
    (cd "$fe" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$fe/node_modules/.berth-installed"
  fi
  if [ ! -f "$fe/dist/index.html" ] || [ -n "$(find "$fe/src" "$fe/public" "$fe/index.html" "$fe/package.json" "$fe/vite.config.ts" "$fe/tsconfig.json" -newer "$fe/dist/index.html" 2>/dev/null | head -1)" ]; then
    echo "bootstrap: building the dashboard"
    (cd "$fe" && npm run --silent build >/dev/null)
  fi
else
  echo "bootstrap: npm not found; the dashboard is not built (install Node.js 20 and npm)" >&2
fi
