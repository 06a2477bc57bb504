// Finding free subnets between taken ones, for both address families: addresses as bigint so one exact
// implementation serves 32 and 128 bits. Runs once per lease acquisition, never per packet. Pure.

/** Inclusive [first, last] address ranges, sorted by first address, overlapping or touching ranges merged. */
export type AddressRanges = ReadonlyArray<readonly [bigint, bigint]>;

export function mergeRanges(ranges: ReadonlyArray<readonly [bigint, bigint]>): AddressRanges {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1n) last[1] = last[1] > r[1] ? last[1] : r[1];
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

export function rangesOverlap(taken: AddressRanges, first: bigint, last: bigint): boolean {
  return taken.some(([a, b]) => a <= last && first <= b);
}

/**
 * Free aligned blocks of `size` addresses from `min` to `max` (inclusive starts), at most `limit` of them. Jumps over
 * each taken range instead of testing every candidate, so a huge pool with thousands of leases costs
 * O(leases + limit).
 */
export function lowestFree(min: bigint, max: bigint, size: bigint, taken: AddressRanges, limit: number): bigint[] {
  const free: bigint[] = [];
  let candidate = min;
  let i = 0;
  while (candidate <= max && free.length < limit) {
    while (i < taken.length && (taken[i] as readonly [bigint, bigint])[1] < candidate) i++;
    const range = taken[i];
    if (range && range[0] <= candidate + size - 1n) {
      // Overlaps: continue at the first aligned address after the taken range.
      const after = range[1] + 1n;
      candidate = ((after + size - 1n) / size) * size;
      continue;
    }
    free.push(candidate);
    candidate += size;
  }
  return free;
}
