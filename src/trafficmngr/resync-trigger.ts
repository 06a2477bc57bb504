// When the iptables rules are looked at again. Upstream looks every --iptables-resync seconds, and so a deleted rule
// is back within that period; each look forks iptables-save, which is most of what an idle daemon spends. With
// iptables-nft every change to any table is announced by the kernel (../netlink/netfilter-events.ts), so we look
// when something changed, plus a slow safety look; with iptables-legacy, or when the announcements cannot be had or
// were lost, we look every period as upstream does.
import type { Logger } from '../log.js';
import type { NetfilterWatch, NetfilterWatchHandlers } from '../netlink/netfilter-events.js';

export type WatchFactory = (h: NetfilterWatchHandlers) => NetfilterWatch;

export interface ResyncTriggerOptions {
  /** --iptables-resync in ms: the longest a deleted rule stays away. */
  readonly periodMs: number;
  /** While changes are watched: a look this often anyway, in case an announcement went missing. */
  readonly safetyMs: number;
  /** A burst of changes (a ruleset restore is hundreds) is one look, this long after its first change. */
  readonly debounceMs: number;
  /** Opens the change watch; null when changes cannot be watched (iptables-legacy). */
  readonly watch: WatchFactory | null;
  /** One look at the rules; resolves true when it had to rebuild. Must not reject. */
  readonly check: () => Promise<boolean>;
  readonly log: Logger;
}

/**
 * Delay of a look after a change. Our own rebuild is itself a change: the look that follows it waits until a period
 * after the rebuild, so rules that never look present (a bug, a foreign tool rewriting them) are rebuilt at most once
 * a period, as with the periodic look, never in a loop. Pure.
 */
export function delayAfterChange(now: number, lastRebuildAt: number, periodMs: number, debounceMs: number): number {
  return Math.max(debounceMs, lastRebuildAt + periodMs - now);
}

export class ResyncTrigger {
  private watch: NetfilterWatch | null = null;
  private tick: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private lastRebuildAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private looks = 0;

  constructor(private readonly opts: ResyncTriggerOptions) {}

  /** True while nf_tables changes are watched (false: a look every period). */
  get watching(): boolean {
    return this.watch !== null;
  }

  /** Looks done so far (for tests and the status counters). */
  get checks(): number {
    return this.looks;
  }

  start(): void {
    if (this.opts.watch !== null && !this.openWatch()) {
      this.opts.log.info('cannot watch nftables changes; checking the iptables rules every --iptables-resync period');
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.tick !== null) clearInterval(this.tick);
    if (this.soon !== null) clearTimeout(this.soon);
    this.tick = this.soon = null;
    this.watch?.close();
    this.watch = null;
  }

  private openWatch(): boolean {
    try {
      this.watch = this.opts.watch!({ changed: () => this.changed(), lost: (reason) => this.lost(reason) });
      return true;
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, 'nftables change watch not available');
      return false;
    }
  }

  private schedule(): void {
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = setInterval(() => this.onTick(), this.watch !== null ? this.opts.safetyMs : this.opts.periodMs);
    this.tick.unref();
  }

  private onTick(): void {
    // After a lost watch: watch again as soon as it can be had, and look once for what went by meanwhile.
    if (this.watch === null && this.opts.watch !== null && this.openWatch()) this.schedule();
    this.run();
  }

  private changed(): void {
    if (this.stopped || this.soon !== null) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const delay = delayAfterChange(Date.now(), this.lastRebuildAt, this.opts.periodMs, this.opts.debounceMs);
    this.soon = setTimeout(() => {
      this.soon = null;
      this.run();
    }, delay);
    this.soon.unref();
  }

  private lost(reason: string): void {
    if (this.stopped) return;
    this.watch = null;
    this.opts.log.warn({ reason }, 'watching nftables changes stopped; checking the iptables rules every --iptables-resync '
      + 'period until it works again');
    this.schedule();
    this.run();
  }

  private run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.looks++;
    void this.opts.check().then((rebuilt) => {
      if (rebuilt) this.lastRebuildAt = Date.now();
    }).finally(() => {
      this.running = false;
      if (!this.again) return;
      this.again = false;
      this.changed(); // something changed during the look (our own rebuild, or someone else): look again
    });
  }
}
