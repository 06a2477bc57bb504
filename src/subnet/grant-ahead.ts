// One etcd lease grant asked for before the subnet is chosen. The grant does not depend on the subnet, so at start the
// daemon asks for it beside the lease list instead of after it: the create (or renew) transaction that follows the
// choice then has its lease id at once, one etcd round trip fewer in a row before subnet.env.
// Taken at most once, only with the TTL it was asked with and while young; a grant nobody took is revoked by the
// owner (drop), and a failed one only means the taker grants as before.

export interface Grant {
  ID: string;
  TTL: string;
  /** Wall clock when the grant was asked for: its expiry counts from no later than this. */
  askedAtMs: number;
}

/** A lease written with `grant` expires no later than this: its TTL counts from the grant. */
export function expiryOf(grant: Grant): Date {
  return new Date(grant.askedAtMs + Number(grant.TTL) * 1000);
}

/** A grant older than this is revoked and a fresh one asked for: the lease's expiry should start near its write. */
export const GRANT_AHEAD_MAX_AGE_MS = 10_000;

export class GrantAhead {
  private pending: { ttl: number; askedAtMs: number; grant: Promise<Grant | null> } | null = null;

  constructor(
    private readonly grant: (ttlSeconds: number) => Promise<{ ID: string; TTL: string }>,
    private readonly revoke: (id: string) => Promise<unknown>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Asks etcd for a grant now, for the next take(ttlSeconds). A second ask while one is pending does nothing. */
  ask(ttlSeconds: number): void {
    if (this.pending !== null || ttlSeconds <= 0) return;
    const askedAtMs = this.now();
    const grant = this.grant(ttlSeconds).then((g) => ({ ID: g.ID, TTL: g.TTL, askedAtMs }), () => null);
    this.pending = { ttl: ttlSeconds, askedAtMs, grant };
  }

  /** The grant asked ahead when it fits (same TTL, young, granted); otherwise a fresh one. */
  async take(ttlSeconds: number): Promise<Grant> {
    const p = this.pending;
    this.pending = null;
    if (p !== null) {
      const g = await p.grant;
      if (g !== null && p.ttl === ttlSeconds && this.now() - p.askedAtMs <= GRANT_AHEAD_MAX_AGE_MS) return g;
      if (g !== null) void this.revoke(g.ID).catch(() => undefined);
    }
    const askedAtMs = this.now();
    const g = await this.grant(ttlSeconds);
    return { ID: g.ID, TTL: g.TTL, askedAtMs };
  }

  /** Revokes a grant nobody took (the acquisition used a reservation, or failed). */
  drop(): void {
    const p = this.pending;
    this.pending = null;
    if (p !== null) void p.grant.then((g) => (g !== null ? this.revoke(g.ID) : undefined)).catch(() => undefined);
  }
}
