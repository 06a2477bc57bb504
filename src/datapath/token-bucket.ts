// A token bucket for the loop's own replies (ICMP unreachable): a container flooding a subnet nobody owns must not
// make the loop spend its time writing answers. Pure and allocation-free: the caller passes the clock.
export class TokenBucket {
  private tokens: number;
  private last = -1;

  /** `ratePerSecond` tokens arrive each second, up to `burst` saved. */
  constructor(private readonly ratePerSecond: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Takes one token at time `nowMs` (monotonic); false when the bucket is empty. */
  take(nowMs: number): boolean {
    if (this.last >= 0 && nowMs > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) * this.ratePerSecond) / 1000);
    }
    if (this.last < 0 || nowMs > this.last) this.last = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
