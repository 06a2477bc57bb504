// What a namespace test needs from the machine. A test skips (with this reason) only when something here is absent;
// every lab and testbed asks through missingPrerequisite so the checks and their messages exist once.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { etcdAvailable } from './etcd.js';
import { CLI_JS } from './testbed.js';

/** The native addon, as `npm ci` builds it. */
export const ADDON = path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'tsflanneld_native.node');

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface Prerequisites {
  /** Root and `ip netns` (default true): the test creates network namespaces. */
  readonly netns?: boolean;
  /** The etcd and etcdctl binaries. */
  readonly etcd?: boolean;
  /** /dev/net/tun and the built native addon (the userspace datapath). */
  readonly tun?: boolean;
  /** The built native addon. */
  readonly addon?: boolean;
  /** Commands (besides `ip` with netns) that must be on PATH. */
  readonly commands?: readonly string[];
  /** The compiled daemon (dist/src/cli.js) must exist. */
  readonly cli?: boolean;
}

/** Why a test cannot run here (the first thing missing), or null when it can. */
export function missingPrerequisite(needs: Prerequisites = {}): string | null {
  const netns = needs.netns ?? true;
  if (netns && process.getuid?.() !== 0) return 'needs root (creates network namespaces)';
  for (const cmd of [...(netns ? ['ip'] : []), ...(needs.commands ?? [])]) {
    if (!hasCommand(cmd)) return `needs the \`${cmd}\` command (run scripts/ensure-deps.sh)`;
  }
  if (netns && !fs.existsSync('/run/netns') && spawnSync('ip', ['netns', 'list']).status !== 0) {
    return 'needs iproute2 with `ip netns`';
  }
  if (needs.etcd === true && !etcdAvailable()) return 'needs etcd and etcdctl (apt-get install etcd-server etcd-client)';
  if (needs.tun === true && !fs.existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  if ((needs.tun === true || needs.addon === true) && !fs.existsSync(ADDON)) return `needs the native addon ${ADDON} (npm ci)`;
  if (needs.cli === true && !fs.existsSync(CLI_JS)) return `needs the built daemon ${CLI_JS} (npm run build)`;
  return null;
}

/** Why a namespace testbed (hosts, etcd, daemons, ping) cannot run here, or null when it can. */
export function testbedUnavailable(extraCommands: readonly string[] = []): string | null {
  return missingPrerequisite({ commands: ['etcd', 'etcdctl', 'ping', ...extraCommands], cli: true });
}

/** Null where the kernel has UDP-tunnel GSO on TUN/TAP (Linux ≥ 6.17, the tunnel-gso send path); else why not. */
export function tunnelGsoUnavailable(release = os.release()): string | null {
  const [major = 0, minor = 0] = release.split('.').map((n) => parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 17) ? null : `kernel ${release} has no UDP-tunnel GSO on TAP (6.17+)`;
}
