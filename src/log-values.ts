// Values that come from outside (etcd keys and values, config text) go into logs only in bounded form: a hostile or
// broken writer must not make every node copy a megabyte into its log at each write (issue 20 item 5).

/** How much of a foreign value a log line carries. */
export const LOG_VALUE_MAX = 256;

/**
 * The value, or its first `max` characters plus a note of how long it was. Strings that are not strings (objects
 * from parsed JSON) are serialised first, so the length counts what a writer put in.
 */
export function truncateForLog(value: unknown, max = LOG_VALUE_MAX): string {
  const text = typeof value === 'string' ? value : safeStringify(value);
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length} chars in all)`;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Allows one log line per key per interval and counts what it held back, so a key rewritten in a loop costs one line
 * per interval. Bounded: when more keys than `maxKeys` are tracked, the oldest are forgotten (an attacker with many
 * keys then gets at most one line per key write, never unbounded memory).
 */
export class KeyedRateLimit {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(private readonly intervalMs = 5 * 60_000, private readonly maxKeys = 4096,
    private readonly now: () => number = Date.now) {}

  /** null: stay quiet; otherwise the number of lines held back for this key since the last one (0 the first time). */
  take(key: string): number | null {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen && t - seen.at < this.intervalMs) {
      seen.held++;
      return null;
    }
    const held = seen?.held ?? 0;
    this.last.delete(key);
    this.last.set(key, { at: t, held: 0 });
    if (this.last.size > this.maxKeys) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    return held;
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}
