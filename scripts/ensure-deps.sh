#!/usr/bin/env bash
# Installs what tsflanneld's demo and tests need, and only what is missing, then builds the project.
#   apt packages: only when their command is absent (one apt-get run for all of them);
#   npm ci:       when node_modules is absent or older than package-lock.json;
#   npm run build (always; tsc is incremental).
# Used by `npm run demo` (scripts/demo.sh) and `npm test`. Needs root for apt-get; set TSF_NO_APT=1 to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

# command → Debian package that provides it
declare -A PACKAGE_OF=(
  [etcd]=etcd-server
  [etcdctl]=etcd-client
  [ip]=iproute2
  [iptables]=iptables
  [nft]=nftables
  [iperf3]=iperf3
  [ethtool]=ethtool
  [ping]=iputils-ping
)

missing=()
for cmd in "${!PACKAGE_OF[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$cmd]}")
done
# The native addon is built by node-gyp during npm ci: it needs a compiler, make and python3.
if [ ! -d node_modules ]; then
  for cmd in make g++ python3; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${TSF_NO_APT:-}" = 1 ]; then
    log "missing packages (TSF_NO_APT=1, not installing): ${missing[*]}"
  elif ! command -v apt-get >/dev/null 2>&1; then
    log "missing packages and no apt-get here; install them by hand: ${missing[*]}"
    exit 1
  else
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's etcd-server may start a system etcd on :2379 where systemd runs; the demo and the tests run their
    # own inside namespaces, so stop that one by its service (never by process name).
    if printf '%s\n' "${missing[@]}" | grep -qx etcd-server && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now etcd >/dev/null 2>&1 || true
    fi
  fi
fi

# npm writes node_modules/.package-lock.json on every install: older than package-lock.json means stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

log "npm run build"
if ! npm run --silent build; then
  # tsc still emits JavaScript on type errors; `npm test` reports them. Stop only if nothing runnable was built.
  [ -f dist/src/cli.js ] || { log "build failed and dist/src/cli.js is missing"; exit 1; }
  log "build reported errors (above); going on with the emitted JavaScript"
fi
