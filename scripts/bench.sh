#!/usr/bin/env bash
# npm run bench [-- --quick | --help]: builds the project when dist/ is missing or older than the sources, then runs
# the benchmark harness (bench/main.ts). Needs root, iproute2, iperf3, etcd-server, etcd-client, iputils-ping; Go
# for the real upstream flanneld rows (built by ../shared/upstream/build.sh; without it they are left out).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=dist/.bench-build-stamp
stale=""
if [[ ! -f dist/bench/main.js || ! -f dist/src/cli.js || ! -f "$stamp" ]]; then
  stale=yes
elif [[ -n "$(find src bench test -name '*.ts' -newer "$stamp" -print -quit)" ]]; then
  stale=yes
fi
if [[ -n "$stale" ]]; then
  echo "bench: building (npx tsc -p .)" >&2
  # Type errors elsewhere in the tree still emit JavaScript; only missing output is fatal.
  npx tsc -p . >/dev/null || true
  if [[ ! -f dist/bench/main.js || ! -f dist/src/cli.js ]]; then
    echo "bench: the build produced no dist/bench/main.js or dist/src/cli.js; run npx tsc -p . to see why" >&2
    exit 1
  fi
  # The command runs dist/tsflanneld.bundle.js only when it is newer than this compile (src/tsflanneld.ts).
  node scripts/bundle.js || true
  touch "$stamp"
fi
exec node dist/bench/main.js "$@"
