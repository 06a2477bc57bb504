#!/usr/bin/env bash
# `npm run demo [-- --backend TYPE --hosts N --keep]`: installs what is missing, builds, then plays the seed
# scenario in network namespaces (test/demo/demo.ts). Nothing is added to the root namespace; Ctrl-C or the end
# removes every namespace and process the demo created.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "npm run demo needs root: it creates network namespaces (nothing is added to the root namespace). Try: sudo npm run demo" >&2
  exit 1
fi
bash scripts/ensure-deps.sh
exec node dist/test/demo/demo.js "$@"
