#!/usr/bin/env bash
# Sourced by the other scripts: makes sure this checkout has its npm packages, including
# Node 24 from the npm registry's node@24 package, and puts that Node first on PATH.
# Debian packages (redis-server; Java and Maven to run Apache Kafka) are installed by the
# stack when it first needs them.
set -euo pipefail
SEGSTREAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$SEGSTREAM_ROOT"

if ! command -v npm >/dev/null 2>&1; then
  echo "segstream needs npm to install its packages (and Node 24 with them). Install Node.js and npm first, e.g. apt-get install -y nodejs npm" >&2
  exit 1
fi

stamp=node_modules/.segstream-install-stamp
if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "[bootstrap] installing npm packages (first run takes a minute: Node 24 and embedded ClickHouse are large) ..." >&2
  # npm ci would be stricter, but npm 11 writes lock files without other platforms'
  # optional packages and then refuses them in npm ci; npm install keeps the locked versions.
  npm install --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi

export PATH="$SEGSTREAM_ROOT/node_modules/.bin:$PATH"
# kafkajs schedules some timers with negative delays; Node 24 warns about each one.
export NODE_OPTIONS="--disable-warning=TimeoutNegativeWarning ${NODE_OPTIONS:-}"

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)'; then
  echo "[bootstrap] node_modules/.bin/node is $(node --version), expected Node 24 or newer; remove node_modules and run again" >&2
  exit 1
fi
