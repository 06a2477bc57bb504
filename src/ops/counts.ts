// What the daemon counts while it runs (peers, lease events, etcd errors, netlink requests, …), kept in plain maps:
// the status file reads them every few seconds, and /metrics (./metrics.ts) turns them into prom-client metrics only
// when someone scrapes. Most operators never do, and prom-client costs some MiB in every daemon that loads it.
import { leaseIdentity } from '../subnet/codec.js';
import type { Lease, LeaseEvent } from '../subnet/lease.js';

/**
 * Backend counters, pulled when read. How /metrics names their keys:
 *   rx_packets / tx_packets      → flannel_datapath_packets_total{direction="rx"|"tx"}
 *   rx_bytes / tx_bytes          → flannel_datapath_bytes_total{direction}
 *   drop_<reason>                → flannel_datapath_drops_total{reason="<reason>"}
 *   anything else                → flannel_backend_counter{name="<key>"}
 */
export type CounterSource = () => Readonly<Record<string, number>>;

/** Counts by label value, in the order each value was first seen (as the metrics list them). */
export type Tally = ReadonlyMap<string, number>;

export class DaemonCounts {
  /** The own lease's expiry in Unix seconds; 0 for a reservation or before the first lease. */
  leaseExpirySeconds = 0;
  readonly etcdErrors = new Map<string, number>();
  readonly leaseEvents = new Map<string, number>();
  /** Keyed by netlinkKey(operation, ok). */
  readonly netlinkOperations = new Map<string, number>();
  /** 'same' or 'changed'. */
  readonly leaseReacquisitions = new Map<string, number>();
  // By lease identity: IPv6-only leases all share the IPv4 half 0.0.0.0/0, yet each is one peer.
  private readonly knownPeers = new Set<string>();
  private counterSource: CounterSource | null = null;
  private rebuildSource: (() => number) | null = null;

  get peers(): number {
    return this.knownPeers.size;
  }

  /** The watcher's full list (first list and every re-list); returns the number of peers now known. */
  peerReset(peers: readonly Lease[]): number {
    this.knownPeers.clear();
    for (const p of peers) this.knownPeers.add(leaseIdentity(p.subnet, p.ipv6Subnet));
    return this.knownPeers.size;
  }

  /** Incremental watcher events, counted by type; returns the number of peers now known. */
  peerEvents(events: readonly LeaseEvent[]): number {
    for (const e of events) {
      bump(this.leaseEvents, e.type);
      if (e.type === 'added') this.knownPeers.add(leaseIdentity(e.lease.subnet, e.lease.ipv6Subnet));
      else this.knownPeers.delete(leaseIdentity(e.lease.subnet, e.lease.ipv6Subnet));
    }
    return this.knownPeers.size;
  }

  etcdError(operation: string): void {
    bump(this.etcdErrors, operation);
  }

  netlinkOperation(operation: string, ok: boolean): void {
    bump(this.netlinkOperations, netlinkKey(operation, ok));
  }

  ownLeaseExpiry(expiration: Date | null): void {
    this.leaseExpirySeconds = expiration === null ? 0 : expiration.getTime() / 1000;
  }

  /** The lease manager got a lease again after losing it; `changed` when it is another subnet than before. */
  leaseReacquired(changed: boolean): void {
    bump(this.leaseReacquisitions, changed ? 'changed' : 'same');
  }

  setCounterSource(source: CounterSource | null): void {
    this.counterSource = source;
  }

  setRebuildSource(source: (() => number) | null): void {
    this.rebuildSource = source;
  }

  /** The backend's counters now, or {} without a source or when it throws (a backend being torn down). */
  readCounters(): Readonly<Record<string, number>> {
    if (this.counterSource === null) return {};
    try {
      return this.counterSource();
    } catch {
      return {};
    }
  }

  /** Times the traffic rule sets were (re)applied; 0 without a source or for a value that is not a count. */
  readRebuilds(): number {
    const n = this.rebuildSource?.() ?? 0;
    return Number.isFinite(n) && n > 0 ? n : 0;
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

// A NUL cannot occur in an operation name ("replace route"), so the split is exact.
export function netlinkKey(operation: string, ok: boolean): string {
  return `${operation}\0${ok ? 'ok' : 'error'}`;
}

export function splitNetlinkKey(key: string): { operation: string; result: string } {
  const at = key.lastIndexOf('\0');
  return { operation: key.slice(0, at), result: key.slice(at + 1) };
}

type CounterKind = 'packets' | 'bytes' | 'drops' | 'other';

/** Which metric a backend counter key feeds (see CounterSource). */
export function classifyCounter(key: string): { kind: CounterKind; labels: Record<string, string> } {
  const dir = /^(rx|tx)_(packets|bytes)$/.exec(key);
  if (dir) return { kind: dir[2] as 'packets' | 'bytes', labels: { direction: dir[1] as string } };
  if (key.startsWith('drop_') && key.length > 5) return { kind: 'drops', labels: { reason: key.slice(5) } };
  return { kind: 'other', labels: { name: key } };
}

/** The daemon's one set of counts; the ops extension feeds it from the lifecycle's notices. */
export const counts = new DaemonCounts();
