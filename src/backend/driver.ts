// Feeds one backend: its calls run one at a time in arrival order (a backend never sees two at once), and peer
// updates that queue up behind a running call are coalesced (see peer-updates.ts) instead of each costing a pass.
import type { Logger } from '../log.js';
import type { Backend } from './backend.js';
import { coalescePeerUpdates, type PeerUpdate } from './peer-updates.js';

type Step = PeerUpdate | { readonly kind: 'task'; readonly what: string; readonly run: () => Promise<void> };

export class BackendDriver {
  private readonly queued: Step[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly backend: Backend, private readonly log: Logger) {}

  /** Queues a peer update; returns at once (the watcher must not wait for the kernel). */
  update(update: PeerUpdate): void {
    this.queued.push(update);
    this.kick();
  }

  /** Queues any other backend work (e.g. start with a re-acquired lease), in order with the updates. */
  task(what: string, run: () => Promise<void>): void {
    this.queued.push({ kind: 'task', what, run });
    this.kick();
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
      for (const u of coalescePeerUpdates(updates)) {
        await (u.kind === 'reset'
          ? this.attempt('resetPeers', () => this.backend.resetPeers(u.peers))
          : this.attempt('handleEvents', () => this.backend.handleEvents(u.events)));
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
