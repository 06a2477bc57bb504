#!/usr/bin/env bash
# npm run bench [-- --quick | --help]: builds the project when dist/ is missing or older than the sources, then runs
# the benchmark harness (bench/main.ts). Needs root, iproute2, iperf3, etcd-server, etcd-client, iputils-ping, ethtool.
set -euo pipefail
cd "$(dirname "$0")/.."

newest_source=$(find src bench test -name '*.ts' -newer dist/bench/main.js 2>/dev/null | head -n 1 || true)
if [[ ! -f dist/bench/main.js || ! -f dist/src/cli.js || -n "$newest_source" ]]; then
  echo "bench: building (npx tsc -p .)" >&2
  # Other modules' type errors still emit JavaScript; only a missing output is fatal.
  npx tsc -p . >/dev/null || true
  if [[ ! -f dist/bench/main.js ]]; then
    echo "bench: the build produced no dist/bench/main.js; run npx tsc -p . to see why" >&2
    exit 1
  fi
fi
exec node dist/bench/main.js "$@"
