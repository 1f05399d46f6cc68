#!/usr/bin/env bash
# Sets fixwright up on a fresh Debian/Ubuntu machine, idempotently:
#   1. Debian packages: docker.io (the engine), debootstrap (the offline image build) and
#      redis-server (the service's queue) and chromium (the UI's browser tests), when missing;
#   2. a Docker engine, started with no bridge and no iptables when none is running;
#   3. node dependencies (npm ci: exactly the lock file, which it never modifies) and the TypeScript build (dist/);
#   4. the sandbox base image (cached: rebuilt only when its recipe changes).
# Needs root for steps 1-2 (or a Docker engine that is already running and reachable).
# FIXWRIGHT_DOCKERD_PIDFILE names where the pid of a dockerd started here is written.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
pidfile=${FIXWRIGHT_DOCKERD_PIDFILE:-/tmp/fixwright-dockerd.pid}

need_pkgs=()
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null 2>&1; then need_pkgs+=(docker.io); fi
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
# Redis: the service's queue and store in the multi-machine mode; the tests start their own.
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
# Chromium: the web UI's browser tests drive it headless (playwright-core downloads no browser).
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need_pkgs[*]}; run this script as root (sudo scripts/setup.sh) or install them yourself" >&2
    exit 1
  fi
  say "installing ${need_pkgs[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: no Docker engine is reachable; start one (sudo scripts/setup.sh starts it) or set DOCKER_HOST" >&2
    exit 1
  fi
  driver=vfs
  grep -qw overlay /proc/filesystems && driver=overlay2
  say "starting dockerd (storage driver $driver, no bridge, no iptables)"
  setsid dockerd --iptables=false --bridge=none --storage-driver="$driver" >/tmp/fixwright-dockerd.log 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not come up; see /tmp/fixwright-dockerd.log" >&2; tail -5 /tmp/fixwright-dockerd.log >&2; exit 1; }
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node dependencies"
  # `npm ci`, not `npm install`: it installs exactly what package-lock.json says and never rewrites
  # it, so setup leaves the checkout as it found it (`npm install` could re-resolve and modify the
  # lock). Without install scripts: offline, faiss-node's (a download from GitHub) fails; the native
  # addons are built below instead.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error || {
    echo "setup: npm ci failed (see above); if it says package-lock.json is out of sync with package.json, run 'npm install' once and commit the lock" >&2
    exit 1
  }
fi
# tree-sitter's prebuilt binary needs a newer libstdc++ than Debian bookworm has: its install script
# (node-gyp-build) loads the prebuilt one where it works and compiles from source otherwise.
if ! node -e "require('tree-sitter'); require('tree-sitter-python')" >/dev/null 2>&1; then
  say "building tree-sitter"
  npm rebuild tree-sitter tree-sitter-python --loglevel=error
  node -e "require('tree-sitter'); require('tree-sitter-python')" || { echo "setup: tree-sitter does not load (see above)" >&2; exit 1; }
fi
say "faiss-node (vector index)"
scripts/build-faiss-node.sh
say "building"
npm run --silent build
say "sandbox base image"
node dist/cli/main.js sandbox build
say "ready: try 'npx fixwright --help'"
