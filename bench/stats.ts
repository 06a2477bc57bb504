// Order statistics for benchmark samples: the median with its min–max spread, and percentiles of latency samples.
// Pure: numbers in, numbers out.

/** A sample set reduced to what the report prints: median [min–max] over n values. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

function sorted(xs: readonly number[]): number[] {
  return xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) by linear interpolation between closest ranks, so p50 of an even-sized set is
 * the mean of the two middle values. NaN for an empty set.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Median, min and max of the finite values; null when there are none (every repetition failed). */
export function spread(xs: readonly number[]): Spread | null {
  const s = sorted(xs);
  if (s.length === 0) return null;
  return { median: median(s), min: s[0] as number, max: s[s.length - 1] as number, n: s.length };
}
