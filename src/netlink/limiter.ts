// A counting semaphore: at most `max` tasks run at once, the rest wait in FIFO order. Bounds the number of
// netlink requests in flight so their ACKs cannot overflow the socket's receive buffer.
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`limiter max must be a positive integer, got ${max}`);
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` stays the same.
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * Shared/exclusive admission in FIFO order. The `netlink` package reassembles a multipart (dump) reply only when
 * nothing else arrives in between, so a dump must have the socket to itself: dumps enter exclusively, other
 * requests share. A waiting dump holds back later requests, so dumps are never starved by a stream of requests.
 */
export class ExclusiveGate {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiting: Array<{ readonly exclusive: boolean; readonly admit: () => void }> = [];

  async run<T>(exclusive: boolean, task: () => Promise<T>): Promise<T> {
    await this.enter(exclusive);
    try {
      return await task();
    } finally {
      if (exclusive) this.exclusiveHeld = false;
      else this.sharedHolders--;
      this.admitWaiting();
    }
  }

  private enter(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canEnter(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((admit) => this.waiting.push({ exclusive, admit }));
  }

  private canEnter(exclusive: boolean): boolean {
    return exclusive ? !this.exclusiveHeld && this.sharedHolders === 0 : !this.exclusiveHeld;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusiveHeld = true;
    else this.sharedHolders++;
  }

  private admitWaiting(): void {
    for (let next = this.waiting[0]; next && this.canEnter(next.exclusive); next = this.waiting[0]) {
      this.waiting.shift();
      this.take(next.exclusive);
      next.admit();
    }
  }
}
