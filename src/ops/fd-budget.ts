// How many connections the health server may hold. Its sockets share the process's descriptor limit with the
// datapath (TUN queues, UDP sockets, worker restarts), netlink, etcd and the iptables tools it spawns, so it gets a
// small slice of RLIMIT_NOFILE and never more than a monitoring setup needs.
import * as fs from 'node:fs';

const MIN_CONNECTIONS = 8;
const MAX_CONNECTIONS = 128;
/** One eighth of the limit: at the default soft limit of 1024 that is the full 128, at a tight 256 it is 32. */
const SHARE_OF_LIMIT = 8;

/** The soft "Max open files" from /proc/self/limits text; null if absent or unlimited. */
export function parseOpenFilesLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\S+)/m.exec(limitsText);
  if (!m || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** The connection cap for a given descriptor limit (null: unknown or unlimited). */
export function connectionCap(openFilesLimit: number | null): number {
  if (openFilesLimit === null) return MAX_CONNECTIONS;
  return Math.min(MAX_CONNECTIONS, Math.max(MIN_CONNECTIONS, Math.floor(openFilesLimit / SHARE_OF_LIMIT)));
}

export function readOpenFilesLimit(): number | null {
  try {
    return parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}
