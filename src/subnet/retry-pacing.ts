// Pacing for retry loops against etcd: exponential backoff, abortable sleeps, and logs at a bounded rate, so an
// etcd outage costs neither CPU nor log volume.
import type { Logger } from '../log.js';

export class Backoff {
  private current: number;

  constructor(private readonly minMs: number, private readonly maxMs: number) {
    this.current = minMs;
  }

  /** The delay to wait now; the next one doubles, up to the maximum. */
  next(): number {
    const delay = this.current;
    this.current = Math.min(this.maxMs, this.current * 2);
    return delay;
  }

  reset(): void {
    this.current = this.minMs;
  }
}

export class AbortedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('aborted');
  }
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A repeating problem is logged the first time, then at most once per interval with the number of repeats in
 * between; `clear()` logs the recovery once.
 */
export class RateLimitedLog {
  private lastLoggedAt = 0;
  private suppressed = 0;
  private failing = false;

  constructor(private readonly log: Logger, private readonly intervalMs = 30_000) {}

  problem(msg: string, fields: Record<string, unknown> = {}, level: 'warn' | 'error' = 'warn'): void {
    const now = Date.now();
    if (this.failing && now - this.lastLoggedAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.log[level]({ ...fields, ...(this.suppressed ? { repeated: this.suppressed } : {}) }, msg);
    this.failing = true;
    this.lastLoggedAt = now;
    this.suppressed = 0;
  }

  clear(msg?: string, fields: Record<string, unknown> = {}): void {
    if (!this.failing) return;
    this.failing = false;
    this.suppressed = 0;
    if (msg) this.log.info(fields, msg);
  }

  get isFailing(): boolean {
    return this.failing;
  }
}
