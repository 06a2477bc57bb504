// The daemon's Prometheus metrics (prom-client), served on /metrics by ./http.ts and summarised by `status`.
// Parts of the daemon report through the small functions at the bottom; backend counters are pulled on scrape.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { leaseIdentity } from '../subnet/codec.js';
import type { Lease, LeaseEvent } from '../subnet/lease.js';

/**
 * How backend counters() keys become metrics:
 *   rx_packets / tx_packets      → flannel_datapath_packets_total{direction="rx"|"tx"}
 *   rx_bytes / tx_bytes          → flannel_datapath_bytes_total{direction}
 *   drop_<reason>                → flannel_datapath_drops_total{reason="<reason>"}
 *   anything else                → flannel_backend_counter{name="<key>"}
 */
export type CounterSource = () => Readonly<Record<string, number>>;

export interface FlannelMetrics {
  readonly registry: Registry;
  readonly leaseExpiry: Gauge;
  readonly peers: Gauge;
  readonly etcdErrors: Counter<'operation'>;
  readonly leaseEvents: Counter<'type'>;
  readonly netlinkOperations: Counter<'operation' | 'result'>;
  readonly iptablesRebuilds: Counter;
  readonly leaseReacquisitions: Counter<'subnet'>;
  /** Replaces the pull source for datapath counters (the backend's counters()). */
  setCounterSource(source: CounterSource | null): void;
  /** Replaces the pull source for the rule sets' rebuild count (the traffic manager's counters). */
  setRebuildSource(source: (() => number) | null): void;
  /** The current values of the pull source, or {} (for status and the state file). */
  readCounters(): Readonly<Record<string, number>>;
  /**
   * Registers the process and Node.js metrics (once); the health server calls it at the first scrape. Their
   * event-loop sampler is a timer of its own: a daemon nobody scrapes should not be woken by it every second.
   */
  startProcessMetrics(): void;
}

/** Period of the event-loop lag sampler. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

export function createMetrics(withProcessMetrics = true): FlannelMetrics {
  const registry = new Registry();
  let source: CounterSource | null = null;
  const readCounters = (): Readonly<Record<string, number>> => {
    if (source === null) return {};
    try {
      return source();
    } catch {
      return {};
    }
  };

  const leaseExpiry = new Gauge({ name: 'flannel_lease_expiration_timestamp_seconds',
    help: 'When the own subnet lease expires (Unix time; 0 for a reservation)', registers: [registry] });
  const peers = new Gauge({ name: 'flannel_peers', help: 'Peer leases known from etcd', registers: [registry] });
  const etcdErrors = new Counter({ name: 'flannel_etcd_errors_total', help: 'Failed etcd operations',
    labelNames: ['operation'] as const, registers: [registry] });
  const leaseEvents = new Counter({ name: 'flannel_lease_events_total', help: 'Peer lease events handled',
    labelNames: ['type'] as const, registers: [registry] });
  const netlinkOperations = new Counter({ name: 'flannel_netlink_operations_total', help: 'Netlink requests made',
    labelNames: ['operation', 'result'] as const, registers: [registry] });
  let rebuildSource: (() => number) | null = null;
  // Pulled on scrape: the traffic manager counts its rebuilds.
  const iptablesRebuilds = new Counter({ name: 'flannel_iptables_rebuilds_total',
    help: 'Times the flannel iptables rule sets were (re)applied', registers: [registry],
    collect() {
      this.reset();
      const n = rebuildSource?.() ?? 0;
      if (Number.isFinite(n) && n > 0) this.inc(n);
    } });

  const leaseReacquisitions = new Counter({ name: 'flannel_lease_reacquisitions_total',
    help: 'Times the own lease was lost and acquired again; subnet="changed" means a move to another subnet',
    labelNames: ['subnet'] as const, registers: [registry] });

  // Pulled on every scrape: the backend owns these numbers, we only mirror them. Registered, so kept by the registry.
  new Counter({ name: 'flannel_datapath_packets_total', help: 'Packets through the userspace datapath',
    labelNames: ['direction'] as const, registers: [registry],
    collect() { mirror(this, 'packets'); } });
  new Counter({ name: 'flannel_datapath_bytes_total', help: 'Bytes through the userspace datapath',
    labelNames: ['direction'] as const, registers: [registry],
    collect() { mirror(this, 'bytes'); } });
  new Counter({ name: 'flannel_datapath_drops_total', help: 'Packets dropped by the datapath, by reason',
    labelNames: ['reason'] as const, registers: [registry],
    collect() { mirror(this, 'drops'); } });
  new Gauge({ name: 'flannel_backend_counter', help: 'Other backend counters by name',
    labelNames: ['name'] as const, registers: [registry],
    collect() { mirror(this, 'other'); } });

  function mirror(metric: Counter<string> | Gauge<string>, kind: CounterKind): void {
    metric.reset();
    for (const [key, value] of Object.entries(readCounters())) {
      const c = classifyCounter(key);
      if (c.kind !== kind || !Number.isFinite(value) || value < 0) continue;
      if (metric instanceof Gauge) metric.set(c.labels, value);
      else metric.inc(c.labels, value);
    }
  }

  // The event-loop lag histogram samples with a timer of this period: prom-client's 10 ms would wake an idle daemon
  // 100 times a second (most of its idle CPU); one sample a second still shows a stalled loop.
  let processMetrics = !withProcessMetrics;
  const startProcessMetrics = (): void => {
    if (processMetrics) return;
    processMetrics = true;
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  };

  return {
    registry, leaseExpiry, peers, etcdErrors, leaseEvents, netlinkOperations, iptablesRebuilds, leaseReacquisitions,
    setCounterSource(s) { source = s; },
    setRebuildSource(s) { rebuildSource = s; },
    readCounters,
    startProcessMetrics,
  };
}

type CounterKind = 'packets' | 'bytes' | 'drops' | 'other';

/** Which metric a backend counter key feeds (see CounterSource). */
export function classifyCounter(key: string): { kind: CounterKind; labels: Record<string, string> } {
  const dir = /^(rx|tx)_(packets|bytes)$/.exec(key);
  if (dir) return { kind: dir[2] as 'packets' | 'bytes', labels: { direction: dir[1] as string } };
  if (key.startsWith('drop_') && key.length > 5) return { kind: 'drops', labels: { reason: key.slice(5) } };
  return { kind: 'other', labels: { name: key } };
}

/** The daemon's one metrics set. Other parts report into it through these one-liners. */
export const metrics: FlannelMetrics = createMetrics();

export function recordEtcdError(operation: string): void {
  metrics.etcdErrors.inc({ operation });
}

// The peers the watcher reported, by lease identity (IPv6-only leases all share the IPv4 half 0.0.0.0/0), so the gauge follows adds and removes between full lists.
const knownPeers = new Set<string>();

/** The watcher's full list (first list and every re-list); returns the number of peers now known. */
export function recordPeerReset(peers: readonly Lease[]): number {
  knownPeers.clear();
  for (const p of peers) knownPeers.add(leaseIdentity(p.subnet, p.ipv6Subnet));
  metrics.peers.set(knownPeers.size);
  return knownPeers.size;
}

/** Incremental watcher events: counted by type, and the peer gauge updated; returns the number of peers known. */
export function recordPeerEvents(events: readonly LeaseEvent[]): number {
  for (const e of events) {
    metrics.leaseEvents.inc({ type: e.type });
    if (e.type === 'added') knownPeers.add(leaseIdentity(e.lease.subnet, e.lease.ipv6Subnet));
    else knownPeers.delete(leaseIdentity(e.lease.subnet, e.lease.ipv6Subnet));
  }
  metrics.peers.set(knownPeers.size);
  return knownPeers.size;
}
export function recordNetlinkOperation(operation: string, ok: boolean): void {
  metrics.netlinkOperations.inc({ operation, result: ok ? 'ok' : 'error' });
}
export function recordOwnLeaseExpiry(expiration: Date | null): void {
  metrics.leaseExpiry.set(expiration === null ? 0 : expiration.getTime() / 1000);
}
/** The lease manager got a lease again after losing it; `changed` when it is another subnet than before. */
export function recordLeaseReacquired(changed: boolean): void {
  metrics.leaseReacquisitions.inc({ subnet: changed ? 'changed' : 'same' });
}
