// When the lease manager acts on its lease: pure delay math, kept apart so that it can be tested without etcd.

/**
 * Milliseconds until the renewal: `expiration − margin`, as upstream. When the margin is more than half the TTL
 * (short test TTLs against the 60 min default), renew between 1/2 and 2/3 of the TTL instead.
 */
export function renewDelayMs(o: { expiration: Date; now: number; ttlSeconds: number; renewMarginMinutes: number; random: number }): number {
  const ttlMs = o.ttlSeconds * 1000;
  const marginMs = o.renewMarginMinutes * 60_000;
  const remaining = o.expiration.getTime() - o.now;
  if (marginMs <= ttlMs / 2) return Math.max(0, remaining - marginMs);
  return Math.max(0, remaining - ttlMs + ttlMs * (0.5 + o.random / 6));
}

/** After a failed renewal: upstream's one minute, sooner when the TTL is short. */
export function renewRetryMs(ttlSeconds: number): number {
  return Math.min(60_000, Math.max(500, (ttlSeconds * 1000) / 10));
}

/** How often the key is read back to check it is still ours: half the TTL, between 1 s and 1 min. */
export function verifyEveryMs(ttlSeconds: number): number {
  return Math.min(60_000, Math.max(1000, (ttlSeconds * 1000) / 2));
}
