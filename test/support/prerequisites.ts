// What a namespace test needs from the machine. A test skips (with this reason) only when something here is absent;
// every lab and testbed asks through missingPrerequisite so the checks and their messages exist once.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI_JS } from './testbed.js';

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface Prerequisites {
  /** Commands besides `ip` that must be on PATH. */
  readonly commands?: readonly string[];
  /** The compiled daemon (dist/src/cli.js) must exist. */
  readonly cli?: boolean;
}

/** Why a test that creates network namespaces cannot run here, or null when it can. */
export function missingPrerequisite(needs: Prerequisites = {}): string | null {
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces)';
  for (const cmd of ['ip', ...(needs.commands ?? [])]) {
    if (!hasCommand(cmd)) return `needs the \`${cmd}\` command (run scripts/ensure-deps.sh)`;
  }
  if (!fs.existsSync('/run/netns') && spawnSync('ip', ['netns', 'list']).status !== 0) return 'needs iproute2 with `ip netns`';
  if (needs.cli === true && !fs.existsSync(CLI_JS)) return `needs the built daemon ${CLI_JS} (npm run build)`;
  return null;
}

/** Why a namespace testbed (hosts, etcd, daemons, ping) cannot run here, or null when it can. */
export function testbedUnavailable(extraCommands: readonly string[] = []): string | null {
  return missingPrerequisite({ commands: ['etcd', 'etcdctl', 'ping', ...extraCommands], cli: true });
}
