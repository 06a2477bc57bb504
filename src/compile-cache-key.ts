// The name of a code cache entry. Hashing the text of every module at every start costs ~3.5 ms for the 1.8 MiB
// bundle alone (SHA-256 of a string V8 must first turn into UTF-8), so a file that has settled is named by its
// identity instead: device, inode, size, mtime and ctime. No write leaves ctime alone (the kernel sets it from its own
// clock; utimes() cannot set it back), and a file renamed into place is another inode (and gets a new ctime), so a
// changed or upgraded file never gets an old entry's name.
// The race that leaves: ctime has the kernel's tick (a few ms) as its granularity, so a write in the same tick as
// the last one, after Node read the text, would keep the name. A file changed in the last second is therefore named
// by the hash of its text, as is one whose ctime is ahead of the clock (a clock set back) or that cannot be stat'ed.
import * as crypto from 'node:crypto';

/** How long a file must be left alone before its identity may stand for its text. */
export const SETTLED_MS = 1000;

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function sha(parts: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 40);
}

/**
 * Pure: the entry name of `filename` read as `content`; `stat` is the file's identity taken after the read (null when
 * it could not be taken), `nowMs` the clock then. The stat read after the text is what makes the name safe: a file
 * untouched for SETTLED_MS before the stat was untouched when Node read it a moment before.
 */
export function compileCacheKey(filename: string, content: string, stat: FileIdentity | null, nowMs: number): string {
  const settled = stat !== null && stat.ctimeNs <= BigInt(Math.floor(nowMs - SETTLED_MS)) * 1_000_000n;
  if (!settled) return sha(['text', filename, content]);
  return sha(['file', filename, `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`]);
}
