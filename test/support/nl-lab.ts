// Namespaces for the netlink and host-gw integration tests. Each lab has a random tag carried by every namespace
// and device it makes, records them in the harness ledger before creating them (so a crashed run is swept by the
// next), and removes them by name in destroy() and on process exit. Nothing touches the root namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { dropLedger, newLedger, saveLedger, sweepDeadRuns, teardownSync, type Ledger } from './leftovers.js';
import { createNetns, execCommand, inNetns, killPids, mustExec, removeNetns } from './netns.js';
import { missingPrerequisite } from './prerequisites.js';
import { onProcessExit } from './proc.js';

/** The compiled programs tests start in a namespace (test/support/agents/). */
export const HELPERS = path.join(__dirname, 'agents');

/** Why these tests cannot run here, or null. */
export function labUnavailable(): string | null {
  return missingPrerequisite();
}

export interface OpResult {
  readonly ok: boolean;
  readonly value?: unknown;
  readonly code?: string;
  readonly message?: string;
}

export class NsLab {
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();

  private constructor(readonly tag: string, private readonly ledger: Ledger) {}

  static async create(): Promise<NsLab> {
    await sweepDeadRuns();
    const tag = `tsfnl${randomBytes(2).toString('hex')}`;
    const lab = new NsLab(tag, newLedger(tag));
    onProcessExit(() => lab.destroySync());
    return lab;
  }

  /** A namespace named `<tag>-<suffix>` with loopback up. */
  async netns(suffix: string): Promise<string> {
    const ns = `${this.tag}-${suffix}`;
    this.ledger.netns.push(ns);
    saveLedger(this.ledger);
    this.namespaces.push(ns);
    await createNetns(ns);
    return ns;
  }

  /** A device name carrying the tag (at most 15 characters). */
  dev(suffix: string): string {
    return `${suffix}${this.tag.slice(-4)}`.slice(0, 15);
  }

  async destroy(): Promise<void> {
    for (const child of this.children) if (child.pid !== undefined) await killPids([child.pid]);
    this.children.clear();
    for (const ns of [...this.namespaces].reverse()) await removeNetns(ns);
    this.namespaces.length = 0;
    dropLedger(this.tag);
  }

  private destroySync(): void {
    for (const child of this.children) {
      try { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    if (this.namespaces.length) teardownSync(this.ledger);
  }

  /** Starts a compiled helper (test/support/agents/<name>.js) inside the namespace; killed by PID in destroy(). */
  spawnHelper(ns: string, name: string, args: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(HELPERS, `${name}.js`), ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }
}

/** Runs netlink operations through src/netlink inside the namespace (test/support/agents/nl-ops.ts). */
export async function nlOps(ns: string, ops: ReadonlyArray<Record<string, unknown>>): Promise<OpResult[]> {
  const r = await execCommand(inNetns(ns, [process.execPath, path.join(HELPERS, 'nl-ops.js'), JSON.stringify(ops)]), { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`nl-ops exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout) as OpResult[];
}

/** `ip -n <ns> <args>` output; throws on failure. */
export function ipIn(ns: string, ...args: string[]): Promise<string> {
  return mustExec(['ip', '-n', ns, ...args]);
}

/** The namespace's main-table routes as `ip route` prints them, one trimmed line each. */
export async function routeLines(ns: string, ...filter: string[]): Promise<string[]> {
  return (await ipIn(ns, 'route', 'show', ...filter)).split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Collects a helper's stdout JSON lines, so a test can wait for a line that may already have arrived. */
export class JsonLines<T = Record<string, unknown>> {
  readonly lines: T[] = [];
  /** The helper's stderr (its pino log), kept to explain a failed wait. */
  private log = '';
  private buffered = '';
  private exited: number | null | undefined = undefined;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.log = (this.log + chunk.toString('utf8')).slice(-8_000);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        try { this.lines.push(JSON.parse(line) as T); } catch { /* not JSON */ }
      }
      for (const w of [...this.waiters]) w();
    });
    child.once('exit', (code) => {
      this.exited = code;
      for (const w of [...this.waiters]) w();
    });
  }

  /** The tail of the helper's log, for failure messages. */
  recentLog(): string {
    return `helper log (tail):\n${this.log}`;
  }

  /** Resolves with the first line (from `from` on) that satisfies `pred`; rejects if the helper exits first. */
  waitFor(pred: (o: T) => boolean, what: string, from = 0, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.lines.slice(from).find(pred);
        if (hit !== undefined) return done(null, hit);
        if (this.exited !== undefined) return done(new Error(`helper exited (${this.exited}) before ${what}\n${this.recentLog()}`));
      };
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}\n${this.recentLog()}`)), timeoutMs);
      const done = (err: Error | null, value?: T): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(value as T);
      };
      this.waiters.add(check);
      check();
    });
  }
}
