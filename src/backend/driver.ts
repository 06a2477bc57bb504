// Feeds one backend: its calls run one at a time in arrival order (a backend never sees two at once), and peer
// updates that queue up behind a running call are coalesced (see peer-updates.ts) instead of each costing a pass.
// The backend's own timers and kernel watchers post their work here too (BackendWork): this queue is the only
// serialiser, so backends keep no promise chain of their own.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import type { Backend, BackendWork } from './backend.js';
import { coalescePeerUpdates, type PeerUpdate } from './peer-updates.js';

/** What the driver calls itself; the rest of a backend's calls come through run(). */
type PeerTarget = Pick<Backend, 'resetPeers' | 'handleEvents'>;

type Step = PeerUpdate | { readonly kind: 'task'; readonly what: string; readonly run: () => Promise<void> };

export class BackendDriver implements BackendWork {
  private readonly queued: Step[] = [];
  private running: Promise<void> | null = null;
  private backend: PeerTarget | null;
  /** When the oldest peer update still queued arrived: its wait is how far programming lags the watch. */
  private oldestUpdateAt: number | null = null;

  constructor(backend: PeerTarget | null, private readonly log: Logger) {
    this.backend = backend;
  }

  /** For a backend built after its driver (it needs the driver as its BackendWork). */
  attach(backend: PeerTarget): void {
    this.backend = backend;
  }

  /** Queues a peer update; returns at once (the watcher must not wait for the kernel). */
  update(update: PeerUpdate): void {
    this.oldestUpdateAt ??= performance.now();
    this.queued.push(update);
    this.kick();
  }

  /** Queues any other backend work (a timer's resync, a device re-creation), in order with the updates. */
  post(what: string, run: () => Promise<void>): void {
    this.queued.push({ kind: 'task', what, run });
    this.kick();
  }

  /** Queues `run` and resolves (or rejects) with its outcome, for callers that need it (register, start). */
  run<T>(what: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ kind: 'task', what, run: () => run().then(resolve, (e: unknown) => { reject(e); }) });
      this.kick();
    });
  }

  /** Resolves when everything queued so far has run. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    this.running ??= this.runQueued().finally(() => {
      this.running = null;
    });
  }

  private async runQueued(): Promise<void> {
    while (this.queued.length > 0) {
      const next = this.queued[0]!;
      if (next.kind === 'task') {
        this.queued.shift();
        await this.attempt(next.what, next.run);
        continue;
      }
      let end = 0;
      while (end < this.queued.length && this.queued[end]!.kind !== 'task') end++;
      const updates = this.queued.splice(0, end) as PeerUpdate[];
      const since = this.oldestUpdateAt ?? performance.now();
      this.oldestUpdateAt = this.queued.some((q) => q.kind !== 'task') ? performance.now() : null;
      const backend = this.backend;
      if (!backend) continue;
      for (const u of coalescePeerUpdates(updates)) {
        const start = performance.now();
        await (u.kind === 'reset'
          ? this.attempt('resetPeers', () => backend.resetPeers(u.peers))
          : this.attempt('handleEvents', () => backend.handleEvents(u.events)));
        // The per-pass timeline of a burst (watch → queue → kernel), for `--log-level debug`.
        this.log.debug({ kind: u.kind, leases: u.kind === 'reset' ? u.peers.length : u.events.length,
          waitedMs: Math.round(start - since), tookMs: Math.round(performance.now() - start) }, 'peer update applied');
      }
    }
  }

  private async attempt(what: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (e) {
      this.log.error({ err: e }, `backend ${what} failed: ${(e as Error).message}`);
    }
  }
}
