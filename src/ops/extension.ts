// Attaches the operator-facing parts to the daemon's lifecycle: /readyz and the health server, sd_notify READY=1 and
// STOPPING=1, the status file, and /metrics fed from the daemon's notices and counter sources. It composes nothing of
// the daemon's own (rules, subnet.env, leases): it only watches. The notices are counted in ./counts.ts; prom-client
// (./metrics.ts, some MiB of heap and RSS) is loaded at the first scrape of /metrics, never otherwise.
import type { Lifecycle, LeaseContext } from '../lifecycle.js';
import { log as rootLog } from '../log.js';
import { formatCidr } from '../net/ipv4.js';
import type { Options } from '../options.js';
import { leasePublicText, leaseSubnetsText, networkText } from './families.js';
import { startHealthServer, type HealthServer } from './http.js';
import { counts } from './counts.js';
import type { FlannelMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { notifyReady, notifyStatus, notifyStopping } from './sd-notify.js';
import { removeStateFile, stateFilePath, StateFileWriter, withoutUserinfo } from './state-file.js';

/**
 * The counters in the status file are this fresh; a change of peers or lease is written sooner (below). A look that
 * finds nothing changed writes nothing.
 */
const STATE_FILE_PERIOD_MS = 5000;
/** A burst of peer events is one rewrite of the status file, this long after its first event. */
const STATE_FILE_DEBOUNCE_MS = 200;

export function leaseStatusLine(ctx: LeaseContext): string {
  const type = ctx.lease.attrs.backendType ?? 'udp';
  return `Lease ${leaseSubnetsText(ctx.lease)} of ${networkText(ctx.config)}, PublicIP ${leasePublicText(ctx.lease)}, `
    + `backend ${type}, MTU ${ctx.mtu}`;
}

/** The DaemonExtension: `attachOperations(lifecycle, options)`. Exported pieces are for tests. */
export function attachOperations(lifecycle: Lifecycle, options: Options): OperationsHandle {
  return new OperationsHandle(lifecycle, options);
}

export class OperationsHandle {
  readonly readiness = new Readiness();
  private readonly log = rootLog.child({ component: 'ops' });
  private metrics: Promise<FlannelMetrics> | null = null;
  private readonly health: Promise<HealthServer | null>;
  private stateTimer: NodeJS.Timeout | null = null;
  private stateSoon: NodeJS.Timeout | null = null;
  private current: LeaseContext | null = null;
  private readonly stateFile: string;
  private readonly stateWriter: StateFileWriter;

  constructor(lifecycle: Lifecycle, private readonly options: Options) {
    this.stateFile = stateFilePath(options.subnetFile);
    this.stateWriter = new StateFileWriter(this.stateFile);
    // Started before the lease, so /healthz answers (and /readyz says 503) while the daemon is still starting.
    this.health = options.healthzPort > 0
      ? startHealthServer({ ip: options.healthzIP, port: options.healthzPort, readiness: this.readiness,
        registry: async () => (await this.loadMetrics()).registry })
      : Promise.resolve(null);
    this.health.catch(() => undefined); // reported by the rulesInPlace hook, which fails the start-up
    lifecycle
      .on('rulesInPlace', (ctx) => this.onRulesInPlace(ctx))
      .on('ready', (ctx) => this.onReady(ctx))
      .on('leaseChanged', (ctx) => this.onLeaseChanged(ctx))
      .on('stopping', () => this.onStopping())
      .observe('leaseRenewed', (lease) => counts.ownLeaseExpiry(lease.expiration))
      .observe('leaseReacquired', (r) => counts.leaseReacquired(r.changed))
      .observe('peers', (p) => {
        if (p.kind === 'reset') counts.peerReset(p.peers);
        else counts.peerEvents(p.events);
        this.writeStateSoon();
      })
      .observe('etcdError', (operation) => counts.etcdError(operation))
      .observe('netlinkOperation', (n) => counts.netlinkOperation(n.operation, n.ok))
      .observe('subnetFile', (f) => this.readiness.markSubnetFileWritten(f.written));
  }

  private async onRulesInPlace(ctx: LeaseContext): Promise<void> {
    const server = await this.health;
    if (server !== null) this.log.info({ address: `${server.address.address}:${server.address.port}` }, 'health server listening');
    counts.setCounterSource(ctx.backendCounters);
    counts.setRebuildSource(() => ctx.trafficCounters().rebuilds);
    counts.ownLeaseExpiry(ctx.lease.expiration);
    this.readiness.markRulesInPlace();
  }

  private onReady(ctx: LeaseContext): void {
    this.current = ctx;
    this.readiness.markSubnetFileWritten();
    counts.ownLeaseExpiry(ctx.lease.expiration);
    notifyReady(leaseStatusLine(ctx));
    // Off the path to READY: the first write comes a moment later, with the first peers if they came by then.
    this.writeStateSoon();
    this.stateTimer = setInterval(() => this.writeState(), STATE_FILE_PERIOD_MS);
    this.stateTimer.unref();
  }

  private onLeaseChanged(ctx: LeaseContext): void {
    this.current = ctx;
    counts.ownLeaseExpiry(ctx.lease.expiration);
    notifyStatus(leaseStatusLine(ctx));
    this.writeState();
  }

  private async onStopping(): Promise<void> {
    notifyStopping();
    if (this.stateTimer !== null) clearInterval(this.stateTimer);
    if (this.stateSoon !== null) clearTimeout(this.stateSoon);
    this.current = null;
    removeStateFile(this.stateFile);
    const server = await this.health.catch(() => null);
    await server?.close();
  }

  /** Peers changed: `status` should see it without waiting for the periodic rewrite. */
  private writeStateSoon(): void {
    if (this.stateSoon !== null || this.current === null) return;
    this.stateSoon = setTimeout(() => {
      this.stateSoon = null;
      this.writeState();
    }, STATE_FILE_DEBOUNCE_MS);
    this.stateSoon.unref();
  }

  private writeState(): void {
    const ctx = this.current;
    if (ctx === null) return;
    const server = this.healthAddress();
    try {
      this.stateWriter.write({
        pid: process.pid, subnet: formatCidr(ctx.lease.subnet),
        publicIP: ctx.lease.attrs.publicIP, backendType: ctx.lease.attrs.backendType ?? 'udp', mtu: ctx.mtu,
        healthz: server,
        etcdEndpoints: this.options.etcdEndpoints.map(withoutUserinfo), etcdPrefix: this.options.etcdPrefix,
        peers: counts.peers,
        counters: { ...counts.readCounters(), ...prefixed('traffic_', ctx.trafficCounters()) },
      });
    } catch (err) {
      this.log.debug({ err: (err as Error).message, file: this.stateFile }, 'cannot write the status file');
    }
  }

  /** prom-client and the metrics, loaded (once) when /metrics is first asked for. */
  private loadMetrics(): Promise<FlannelMetrics> {
    this.metrics ??= import('./metrics.js').then((m) => {
      const metrics = m.createMetrics(counts);
      metrics.startProcessMetrics(); // someone scrapes: from now on the event-loop sampler is worth its wake-ups
      return metrics;
    });
    return this.metrics;
  }

  private healthAddress(): string | null {
    if (this.options.healthzPort <= 0) return null;
    const ip = this.options.healthzIP === '0.0.0.0' || this.options.healthzIP === '' ? '127.0.0.1' : this.options.healthzIP;
    return `http://${ip}:${this.options.healthzPort}`;
  }
}

function prefixed(prefix: string, o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}${k}`, Number(v)]));
}
