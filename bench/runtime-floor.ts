// The memory floor of the daemon's runtime, measured in the same run as the daemons: Node.js with the daemon's
// settings and the etcd3 package loaded, idle (agents/runtime-floor.ts). Upstream's RSS targets are read against it:
// a figure below the floor cannot be reached by any daemon built on Node.js and etcd3.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { UNIT_NODE_OPTIONS } from './daemons.js';
import type { ProcMemory } from './memory.js';
import { memoryOf } from './proc.js';

const AGENT = path.join(__dirname, 'agents', 'runtime-floor.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the floor process, reads its memory after `idleSeconds`, and kills it by PID; null if it did not run. */
export async function measureRuntimeFloor(idleSeconds: number): Promise<ProcMemory | null> {
  const child = spawn(process.execPath, [...UNIT_NODE_OPTIONS.split(' '), AGENT], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const started = await new Promise<boolean>((resolve) => {
      child.stdout.once('data', () => resolve(true));
      child.once('exit', () => resolve(false));
      child.once('error', () => resolve(false));
    });
    if (!started || child.pid === undefined) return null;
    await sleep(idleSeconds * 1000);
    return memoryOf(child.pid);
  } finally {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
  }
}
