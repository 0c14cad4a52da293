#!/usr/bin/env bash
# `make demo` (after `npm ci` and `tsc -b`): checks the prerequisites with a clear message, then runs
# the compiled demo (scripts/demo/src/main.ts). See docs/demo.md.
#   bash scripts/demo.sh --check   only the prerequisites (make runs it before installing anything)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "make demo needs Node.js >= 20.19 on PATH (22 or 24 LTS recommended): https://nodejs.org/ or 'nvm install 22'." >&2
  exit 1
fi
node scripts/check-node.mjs

if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  cat >&2 <<'MSG'
make demo starts its own private redis-server, but none is on PATH. Either install one:
  Debian/Ubuntu:  sudo apt-get install redis-server
  Fedora:         sudo dnf install redis
  macOS:          brew install redis
or point the demo at a Redis you already run (it uses its own stream name and deletes only its own keys):
  REDIS_URL=redis://127.0.0.1:6379 make demo
MSG
  exit 1
fi
[ "${1:-}" = --check ] && exit 0

missing=()
for f in scripts/demo/dist/main.js services/producer/dist/main.js services/worker/dist/main.js services/lag-exporter/dist/main.js services/autoscaler/dist/main.js; do
  [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "not built: ${missing[*]}; run 'make build' (or 'make demo', which builds first)." >&2
  exit 1
fi

exec node scripts/demo/dist/main.js
