// A ledger of what each testbed run owns, so that a run that crashed (SIGKILL, power loss) is cleaned up by the
// next one. Each run writes /run/tsflanneld-testbeds/<tag>.json naming its owner PID, namespaces and temp dirs
// *before* creating them. A ledger whose owner PID is gone belongs to a dead run and is swept; a live run's
// resources are never touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive, removeNetns, removeNetnsSync } from './netns.js';

const LEDGER_DIR = fs.existsSync('/run') ? '/run/tsflanneld-testbeds' : '/tmp/tsflanneld-testbeds';

export interface Ledger {
  readonly tag: string;
  readonly ownerPid: number;
  /** Owner's start time in clock ticks (from /proc/<pid>/stat), so a reused PID is not taken for the owner. */
  readonly ownerStart: string;
  readonly netns: string[];
  readonly dirs: string[];
}

function processStartTime(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the ")" that closes the command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function ledgerPath(tag: string): string {
  return path.join(LEDGER_DIR, `${tag}.json`);
}

function ownerAlive(l: Ledger): boolean {
  return isAlive(l.ownerPid) && processStartTime(l.ownerPid) === l.ownerStart;
}

/** True when some run (live or dead) already recorded this tag. */
export function ledgerExists(tag: string): boolean {
  return fs.existsSync(ledgerPath(tag));
}

export function newLedger(tag: string): Ledger {
  const l: Ledger = { tag, ownerPid: process.pid, ownerStart: processStartTime(process.pid), netns: [], dirs: [] };
  saveLedger(l);
  return l;
}

export function saveLedger(l: Ledger): void {
  fs.mkdirSync(LEDGER_DIR, { recursive: true });
  const tmp = `${ledgerPath(l.tag)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(l));
  fs.renameSync(tmp, ledgerPath(l.tag));
}

export function dropLedger(tag: string): void {
  fs.rmSync(ledgerPath(tag), { force: true });
}

function readLedgers(): Ledger[] {
  if (!fs.existsSync(LEDGER_DIR)) return [];
  return fs.readdirSync(LEDGER_DIR).filter((f) => f.endsWith('.json')).flatMap((f) => {
    try {
      const l = JSON.parse(fs.readFileSync(path.join(LEDGER_DIR, f), 'utf8')) as Partial<Ledger>;
      const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string');
      if (typeof l.tag !== 'string' || typeof l.ownerPid !== 'number' || typeof l.ownerStart !== 'string'
        || !strings(l.netns) || !strings(l.dirs)) return [];
      return [l as Ledger];
    } catch {
      // Half-written or foreign: not ours to judge.
      return [];
    }
  });
}

/** Removes everything recorded by runs whose owner process is gone. Returns the swept tags. */
export async function sweepDeadRuns(): Promise<string[]> {
  const swept: string[] = [];
  for (const l of readLedgers()) {
    if (ownerAlive(l)) continue;
    // Containers first (reverse creation order), the switch last.
    for (const ns of [...l.netns].reverse()) await removeNetns(ns).catch(() => undefined);
    for (const d of l.dirs) fs.rmSync(d, { recursive: true, force: true });
    dropLedger(l.tag);
    swept.push(l.tag);
  }
  return swept;
}

/** Synchronous teardown for 'exit' handlers. */
export function teardownSync(l: Ledger): void {
  for (const ns of [...l.netns].reverse()) removeNetnsSync(ns);
  for (const d of l.dirs) fs.rmSync(d, { recursive: true, force: true });
  dropLedger(l.tag);
}
