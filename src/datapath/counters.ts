// Datapath counters: one Float64 block per loop thread in a SharedArrayBuffer, so each thread writes only its own
// block (no atomics needed) and the main thread sums the blocks when `status` or /metrics asks.

/** Drop reasons (counted as `drop_<reason>`) and traffic counters. */
export const COUNTER_NAMES = [
  'tx_packets', 'tx_bytes', 'tx_datagrams', 'tx_tso_frames', 'tx_send_failed',
  'rx_datagrams', 'rx_bytes', 'rx_packets', 'rx_coalesced_frames', 'rx_partial_csum', 'rx_bad_csum', 'rx_super_datagrams',
  'rx_tun_write_failed', 'icmp_unreachable_sent', 'icmp_unreachable_limited',
  'drop_too_short', 'drop_truncated', 'drop_bad_flags', 'drop_bad_vni', 'drop_not_our_mac', 'drop_not_ipv4',
  'drop_bad_ip', 'drop_unknown_source', 'drop_no_route', 'drop_foreign_source', 'drop_foreign_destination',
  // udp framing: upstream's proxy lowers the TTL on each hop and drops at 0.
  'drop_ttl_expired',
  'tx_tunnel_frames', 'tx_tap_write_failed',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

export const COUNTER_INDEX: Readonly<Record<CounterName, number>> = Object.fromEntries(
  COUNTER_NAMES.map((name, i) => [name, i]),
) as Record<CounterName, number>;

export const COUNTERS_PER_BLOCK = COUNTER_NAMES.length;

export function newCounterBuffer(blocks: number): SharedArrayBuffer {
  return new SharedArrayBuffer(blocks * COUNTERS_PER_BLOCK * 8);
}

/** The block of thread `index`. */
export function counterBlock(shared: SharedArrayBuffer, index: number): Float64Array {
  return new Float64Array(shared, index * COUNTERS_PER_BLOCK * 8, COUNTERS_PER_BLOCK);
}

/** Sums all blocks into name → value. */
export function readCounters(shared: SharedArrayBuffer): Record<CounterName, number> {
  const all = new Float64Array(shared);
  const out = {} as Record<CounterName, number>;
  COUNTER_NAMES.forEach((name, i) => {
    let sum = 0;
    for (let b = i; b < all.length; b += COUNTERS_PER_BLOCK) sum += all[b]!;
    out[name] = sum;
  });
  return out;
}
