// What an e2e test needs from the machine. A test skips (with this reason) only when something here is absent.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI_JS } from './testbed.js';

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a namespace testbed cannot run here, or null when it can. */
export function testbedUnavailable(extraCommands: readonly string[] = []): string | null {
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces)';
  for (const cmd of ['ip', 'etcd', 'etcdctl', 'ping', ...extraCommands]) {
    if (!hasCommand(cmd)) return `needs the \`${cmd}\` command (run scripts/ensure-deps.sh)`;
  }
  if (!fs.existsSync('/run/netns') && spawnSync('ip', ['netns', 'list']).status !== 0) return 'ip netns unavailable';
  if (!fs.existsSync(CLI_JS)) return `needs the built daemon ${CLI_JS} (npm run build)`;
  return null;
}
