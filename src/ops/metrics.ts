// The daemon's Prometheus metrics (prom-client), served on /metrics by ./http.ts. This module is loaded at the first
// scrape only: every metric reads its values from the daemon's counts (./counts.ts) when collected, so nothing has to
// be replayed and a daemon nobody scrapes never loads prom-client.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { classifyCounter, splitNetlinkKey, type DaemonCounts, type Tally } from './counts.js';

export interface FlannelMetrics {
  readonly registry: Registry;
  /**
   * Registers the process and Node.js metrics (once); the health server calls it at the first scrape. Their
   * event-loop sampler is a timer of its own: a daemon nobody scrapes should not be woken by it every second.
   */
  startProcessMetrics(): void;
}

/** Period of the event-loop lag sampler. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

type CounterKind = ReturnType<typeof classifyCounter>['kind'];

export function createMetrics(counts: DaemonCounts, withProcessMetrics = true): FlannelMetrics {
  const registry = new Registry();
  const registers = [registry];

  new Gauge({ name: 'flannel_lease_expiration_timestamp_seconds',
    help: 'When the own subnet lease expires (Unix time; 0 for a reservation)', registers,
    collect() { this.set(counts.leaseExpirySeconds); } });
  new Gauge({ name: 'flannel_peers', help: 'Peer leases known from etcd', registers,
    collect() { this.set(counts.peers); } });
  new Counter({ name: 'flannel_etcd_errors_total', help: 'Failed etcd operations',
    labelNames: ['operation'] as const, registers,
    collect() { tally(this, counts.etcdErrors, (operation) => ({ operation })); } });
  new Counter({ name: 'flannel_lease_events_total', help: 'Peer lease events handled',
    labelNames: ['type'] as const, registers,
    collect() { tally(this, counts.leaseEvents, (type) => ({ type })); } });
  new Counter({ name: 'flannel_netlink_operations_total', help: 'Netlink requests made',
    labelNames: ['operation', 'result'] as const, registers,
    collect() { tally(this, counts.netlinkOperations, splitNetlinkKey); } });
  new Counter({ name: 'flannel_iptables_rebuilds_total',
    help: 'Times the flannel iptables rule sets were (re)applied', registers,
    collect() {
      this.reset();
      const n = counts.readRebuilds();
      if (n > 0) this.inc(n);
    } });
  new Counter({ name: 'flannel_lease_reacquisitions_total',
    help: 'Times the own lease was lost and acquired again; subnet="changed" means a move to another subnet',
    labelNames: ['subnet'] as const, registers,
    collect() { tally(this, counts.leaseReacquisitions, (subnet) => ({ subnet })); } });

  // The backend owns these numbers; each scrape mirrors them.
  new Counter({ name: 'flannel_datapath_packets_total', help: 'Packets through the userspace datapath',
    labelNames: ['direction'] as const, registers,
    collect() { mirror(this, 'packets'); } });
  new Counter({ name: 'flannel_datapath_bytes_total', help: 'Bytes through the userspace datapath',
    labelNames: ['direction'] as const, registers,
    collect() { mirror(this, 'bytes'); } });
  new Counter({ name: 'flannel_datapath_drops_total', help: 'Packets dropped by the datapath, by reason',
    labelNames: ['reason'] as const, registers,
    collect() { mirror(this, 'drops'); } });
  new Gauge({ name: 'flannel_backend_counter', help: 'Other backend counters by name',
    labelNames: ['name'] as const, registers,
    collect() { mirror(this, 'other'); } });

  function mirror(metric: Counter<string> | Gauge<string>, kind: CounterKind): void {
    metric.reset();
    for (const [key, value] of Object.entries(counts.readCounters())) {
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

  return { registry, startProcessMetrics };
}

/** A counter set afresh from counts by label value (a collect callback). */
function tally<L extends string>(metric: Counter<L>, values: Tally, labels: (key: string) => Record<L, string>): void {
  metric.reset();
  for (const [key, n] of values) metric.inc(labels(key), n);
}
