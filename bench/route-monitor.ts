// Watches a namespace's routing table through `ip monitor route` and remembers when each destination was first
// added, so convergence is timed as the kernel saw it, not at the resolution of a polling loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as readline from 'node:readline';

export interface RouteEvent {
  readonly added: boolean;
  /** Destination as printed, e.g. "10.64.3.0/24". */
  readonly dst: string;
}

/** One line of `ip monitor route`; null for lines that are not IPv4 prefix routes (local, broadcast, IPv6…). */
export function parseRouteMonitorLine(line: string): RouteEvent | null {
  const m = /^(Deleted\s+)?(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/\d{1,2})?)\s/.exec(line.trim() + ' ');
  if (m === null) return null;
  const dst = (m[2] as string).includes('/') ? m[2] as string : `${m[2] as string}/32`;
  return { added: m[1] === undefined, dst };
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on this machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export class RouteMonitor {
  /** Destination → epoch ms it was first added since the last reset(). */
  readonly firstAdded = new Map<string, number>();
  private readonly child: ChildProcess;
  private waiters: Array<() => void> = [];

  constructor(netns: string) {
    this.child = spawn('ip', ['-n', netns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const rl = readline.createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      const t = epochMs();
      const ev = parseRouteMonitorLine(line);
      if (ev === null || !ev.added || this.firstAdded.has(ev.dst)) return;
      this.firstAdded.set(ev.dst, t);
      for (const w of this.waiters) w();
    });
  }

  reset(): void {
    this.firstAdded.clear();
  }

  /** Resolves once every destination in `dsts` was added; rejects after timeoutMs with how many are missing. */
  waitFor(dsts: readonly string[], timeoutMs: number): Promise<void> {
    const done = (): boolean => dsts.every((d) => this.firstAdded.has(d));
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        const missing = dsts.filter((d) => !this.firstAdded.has(d)).length;
        reject(new Error(`${missing} of ${dsts.length} routes not programmed after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.pid !== undefined) {
      try { process.kill(this.child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}
