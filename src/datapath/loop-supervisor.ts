// Keeps one datapath loop thread alive: a worker that dies without being asked to (an exception in the loop, a
// terminate, a native error) drops all traffic in its direction, so it is logged as an error and started again
// after a backoff that grows while it keeps dying and resets once it has run for a while. The daemon stays up.
import type { MessagePort, Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';

/** Restart delays: min doubling up to max; a loop that ran `healthyMs` without dying starts again from min. */
export interface BackoffPolicy {
  readonly minMs: number;
  readonly maxMs: number;
  readonly healthyMs: number;
}

export const DEFAULT_LOOP_BACKOFF: BackoffPolicy = { minMs: 100, maxMs: 10_000, healthyMs: 30_000 };

/**
 * Pure: the delay before the next restart, given the previous delay (0 = none yet) and how long the loop ran
 * before this failure.
 */
export function nextRestartDelay(policy: BackoffPolicy, previousMs: number, ranMs: number): number {
  if (previousMs <= 0 || ranMs >= policy.healthyMs) return policy.minMs;
  return Math.min(policy.maxMs, Math.max(policy.minMs, previousMs * 2));
}

export interface LoopSupervisorOptions {
  /** `tx`, `rx` or `both`: named in logs. */
  readonly role: string;
  /** Starts a fresh worker (with the datapath's current fds and peers). */
  readonly spawn: () => Worker;
  readonly log: Logger;
  readonly backoff?: BackoffPolicy;
  /** Called on every unexpected death, before a restart is scheduled: 'hold' when the owner will restart it. */
  readonly onFailure?: (reason: string) => 'restart' | 'hold';
}

/** Worker errors that mean the TUN device went away under the loop (EBADFD from read/write on a detached fd). */
/** A loop as its datapath holds it: its supervisor and the current worker's end of its peer-update channel. */
export interface SupervisedLoop {
  readonly supervisor: LoopSupervisor;
  port: MessagePort | null;
}

/**
 * Waits for every loop to stop once the caller has set their stop flag and woken them, and closes their update
 * ports. A loop sees the flag within one wait; one that does not (a bug) is terminated after `graceMs`.
 */
export async function haltLoops(loops: readonly SupervisedLoop[], graceMs: number): Promise<void> {
  await Promise.all(loops.map((l) => l.supervisor.stop(graceMs)));
  for (const l of loops) {
    l.port?.close();
    l.port = null;
  }
}

export function isTunGoneError(reason: string): boolean {
  return /File descriptor in bad state|EBADFD/i.test(reason);
}

export class LoopSupervisor {
  private worker: Worker | null = null;
  private startedAt = 0;
  private delay = 0;
  private timer: NodeJS.Timeout | null = null;
  private expectingExit = false;
  private held = false;
  private exited: Promise<void> = Promise.resolve();
  private failures = 0;

  constructor(private readonly opts: LoopSupervisorOptions) {}

  /** Restarts after unexpected deaths so far (a loop held for its owner is not counted). */
  get restarts(): number {
    return this.failures;
  }

  get role(): string {
    return this.opts.role;
  }

  /** The live worker, if any (the datapath posts peer updates through its own port, not through this). */
  get current(): Worker | null {
    return this.worker;
  }

  start(): void {
    this.expectingExit = false;
    this.held = false;
    if (this.worker || this.timer) return;
    this.launch();
  }

  /**
   * The caller has told the loop to stop (the shared stop flag); waits for the exit, terminating a worker that
   * does not see the flag within graceMs. No restart follows.
   */
  async stop(graceMs: number): Promise<void> {
    this.expectingExit = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.worker;
    if (!w) return;
    const kill = setTimeout(() => void w.terminate(), graceMs);
    await this.exited;
    clearTimeout(kill);
  }

  /** Test hook: ends the worker the hard way, as a crash would. */
  terminateForTest(): Promise<number> {
    return this.worker ? this.worker.terminate() : Promise.resolve(0);
  }

  private launch(): void {
    let worker: Worker;
    try {
      worker = this.opts.spawn();
    } catch (err) {
      this.failed(`could not start: ${(err as Error).message}`);
      return;
    }
    this.worker = worker;
    this.startedAt = Date.now();
    let lastError: string | null = null;
    worker.on('error', (err: Error) => { lastError = err?.message ?? String(err); });
    this.exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        this.worker = null;
        resolve();
        if (this.expectingExit) return;
        this.failed(lastError ?? `exited with code ${code}`);
      });
    });
  }

  private failed(reason: string): void {
    const verdict = this.opts.onFailure?.(reason) ?? 'restart';
    if (verdict === 'hold') {
      // The owner restarts the loop itself (e.g. after reopening a lost TUN); no error storm meanwhile.
      this.held = true;
      return;
    }
    this.failures++;
    const policy = this.opts.backoff ?? DEFAULT_LOOP_BACKOFF;
    this.delay = nextRestartDelay(policy, this.delay, Date.now() - this.startedAt);
    this.opts.log.error({ loop: this.opts.role, reason, restartInMs: this.delay, restarts: this.failures },
      `datapath ${this.opts.role} loop died (${reason}); restarting it in ${this.delay} ms`);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.expectingExit && !this.held) this.launch();
    }, this.delay);
    this.timer.unref();
  }
}
