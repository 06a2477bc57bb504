// The host-gw backend (flannel-compat §6): every peer's subnet is routed via the peer's PublicIP on the external
// interface. The kernel table is compared with the leases after every change, every 10 s, and promptly when the
// netlink monitor sees one of our routes go (or the interface come back). Routes carry TSFLANNELD_ROUTE_PROTOCOL,
// so stale ones left by an earlier run (upstream #2554) are told apart from everyone else's and removed.
import type { Backend, BackendContext, BackendRegistration } from '../backend.js';
import { registerBackend } from '../registry.js';
import type { Lease, LeaseEvent } from '../../subnet/lease.js';
import { formatCidr } from '../../net/ipv4.js';
import type { Logger } from '../../log.js';
import { NetlinkError } from '../../netlink/errors.js';
import { NetlinkMonitor, type MonitorEvent } from '../../netlink/monitor.js';
import { dstKey, planRoutes } from '../../netlink/route-plan.js';
import {
  deleteRouteIfPresent, describeRoute, listRoutes, replaceRoute, type KernelRoute, type RouteSpec,
} from '../../netlink/routes.js';
import { sharedRtSocket, type RtSocket } from '../../netlink/socket.js';
import { HOSTGW_BACKEND_TYPE, isOwnedHostGwRoute, natRefusal, routesForLeases } from './lease-routes.js';

export interface HostGwOptions {
  /** Period of the full comparison with the kernel table (default 10 s, as upstream). */
  readonly resyncIntervalMs?: number;
  /** React to kernel notifications between periodic checks (default true). */
  readonly watchKernel?: boolean;
  readonly socket?: RtSocket;
}

const DEFAULT_RESYNC_MS = 10_000;
/** After a pass that could not converge (a dump or an install failed), the next one comes this soon, then slower. */
const RETRY_MIN_MS = 500;

export class HostGwBackend implements Backend {
  private readonly log: Logger;
  private readonly socket: RtSocket;
  private readonly peers = new Map<string, Lease>();
  private own: Lease | null = null;
  /** Until the first full peer list arrives we cannot tell stale routes from routes of peers not yet seen. */
  private peersKnown = false;
  /** Destinations we have seen in place: a later absence is a recovery, not a first install. */
  private readonly installed = new Set<string>();
  /** Last failure per destination, so a peer that keeps failing is warned about once, not every 10 s. */
  private readonly failing = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = RETRY_MIN_MS;
  private monitor: NetlinkMonitor | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private stopped = false;
  private readonly stats = {
    routesAdded: 0, routesReplaced: 0, routesRecovered: 0, routesRemoved: 0, routeErrors: 0, reconciles: 0,
  };

  constructor(private readonly ctx: BackendContext, private readonly opts: HostGwOptions = {}) {
    this.log = ctx.log.child({ component: 'backend-host-gw' });
    this.socket = opts.socket ?? sharedRtSocket();
  }

  async register(): Promise<BackendRegistration> {
    const refusal = natRefusal(this.ctx.extIface);
    if (refusal) throw new Error(refusal);
    return { backendType: HOSTGW_BACKEND_TYPE, mtu: this.ctx.extIface.mtu };
  }

  async start(own: Lease): Promise<void> {
    this.own = own;
    this.peers.delete(formatCidr(own.subnet));
    if (!this.timer) {
      const period = this.opts.resyncIntervalMs ?? DEFAULT_RESYNC_MS;
      this.timer = setInterval(() => void this.reconcile('periodic check'), period);
      this.timer.unref();
    }
    if (!this.monitor && this.opts.watchKernel !== false) this.startMonitor();
    if (this.peersKnown) await this.reconcile('own lease changed');
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    this.peers.clear();
    for (const lease of peers) this.addPeer(lease);
    this.peersKnown = true;
    await this.reconcile('peer list');
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'added') this.addPeer(e.lease);
      else this.peers.delete(formatCidr(e.lease.subnet));
    }
    await this.reconcile('lease events');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.monitor?.close();
    this.monitor = null;
    await this.running;
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.stats, peers: this.peers.size };
  }

  private addPeer(lease: Lease): void {
    const key = formatCidr(lease.subnet);
    if (this.own && key === formatCidr(this.own.subnet)) return;
    this.peers.set(key, lease);
  }

  private startMonitor(): void {
    const monitor = new NetlinkMonitor({ groups: ['route', 'link', 'addr'], ref: false, log: this.log });
    monitor.on('event', (e) => {
      if (!this.concerns(e)) return;
      // Rare (one of our routes deleted, the link back up), and the line that explains a repair or its absence.
      this.log.info({ kind: e.kind, action: e.action }, 'kernel change concerns our routes; checking them');
      void this.reconcile(`kernel ${e.kind} ${e.action}`);
    });
    monitor.on('resync', () => void this.reconcile('netlink monitor resync'));
    try {
      monitor.start();
      this.monitor = monitor;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot watch kernel routes; relying on the periodic check');
    }
  }

  /** A kernel change that may have taken one of our routes away. */
  private concerns(e: MonitorEvent): boolean {
    const ext = this.ctx.extIface.index;
    switch (e.kind) {
      case 'route':
        return e.action === 'del' && this.peers.has(dstKey(e.route));
      case 'link':
        // A link that goes down loses its routes without a notification per route; resync when it is back.
        return e.action === 'new' && e.link.index === ext && e.link.up;
      case 'addr':
        return e.message.data.index === ext;
      default:
        return false;
    }
  }

  /** Runs reconciles one at a time; a request during a run makes one more run, so bursts coalesce. */
  private reconcile(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      let converged = false;
      try {
        do {
          this.rerun = false;
          try {
            converged = await this.reconcileOnce(reason);
          } catch (err) {
            // Never let a surprise escape into a timer or event callback: the retry below tries again.
            converged = false;
            this.stats.routeErrors++;
            this.log.error({ err, reason }, 'route reconcile failed; will retry');
          }
        } while (this.rerun && !this.stopped);
      } finally {
        this.running = null;
      }
      this.scheduleRetry(converged);
    })();
    return this.running;
  }

  /**
   * A repair the monitor asked for must not wait for the next periodic check when a request failed on the way
   * (a timeout under load, a socket replaced): retry soon, backing off to the periodic period for lasting failures.
   */
  private scheduleRetry(converged: boolean): void {
    if (converged || this.stopped) {
      this.retryDelayMs = RETRY_MIN_MS;
      return;
    }
    if (this.retryTimer) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(delay * 2, this.opts.resyncIntervalMs ?? DEFAULT_RESYNC_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.reconcile('retry after a failed pass');
    }, delay);
    this.retryTimer.unref();
  }

  /** One comparison with the kernel table; true when the kernel now matches the leases. */
  private async reconcileOnce(reason: string): Promise<boolean> {
    if (!this.peersKnown) return true;
    this.stats.reconciles++;
    const ext = this.ctx.extIface;
    let actual: KernelRoute[];
    try {
      actual = await listRoutes({}, this.socket);
    } catch (err) {
      this.stats.routeErrors++;
      this.log.warn({ err: (err as Error).message, reason }, 'cannot read the routing table; will retry');
      return false;
    }
    const desired = routesForLeases(this.peers.values(), ext.index);
    const plan = planRoutes({
      desired,
      actual,
      owned: (r) => isOwnedHostGwRoute(r, this.ctx.network.network, ext.index),
    });

    let failures = 0;
    // Requests go out together; the socket's limiter bounds how many are in flight.
    await Promise.all(plan.add.map(async (want) => {
      if (!(await this.install(want, null))) return void failures++;
      if (this.installed.has(dstKey(want))) {
        this.stats.routesRecovered++;
        this.log.info({ route: this.describe(want), reason }, 'route recovered');
      } else {
        this.stats.routesAdded++;
        this.log.info({ route: this.describe(want) }, 'route added');
      }
    }));
    await Promise.all(plan.replace.map(async ({ want, have }) => {
      if (!(await this.install(want, this.describe(have)))) return void failures++;
      this.stats.routesReplaced++;
      this.log.info({ route: this.describe(want), replaced: this.describe(have) }, 'route replaced');
    }));
    await Promise.all(plan.remove.map(async (have) => {
      try {
        await deleteRouteIfPresent(have, this.socket);
        this.stats.routesRemoved++;
        this.installed.delete(dstKey(have));
        this.log.info({ route: this.describe(have) }, 'route removed: no lease backs it');
      } catch (err) {
        failures++;
        this.stats.routeErrors++;
        this.log.warn({ route: this.describe(have), err: (err as Error).message }, 'cannot remove stale route');
      }
    }));
    const wanted = new Set(desired.map(dstKey));
    for (const key of [...this.installed]) if (!wanted.has(key)) this.installed.delete(key);
    for (const want of desired) if (!this.failing.has(dstKey(want))) this.installed.add(dstKey(want));
    for (const key of [...this.failing.keys()]) if (!wanted.has(key)) this.failing.delete(key);
    return failures === 0;
  }

  /** Installs one route; logs a failure (once per destination and error) and returns false. */
  private async install(want: RouteSpec, replacing: string | null): Promise<boolean> {
    const key = dstKey(want);
    try {
      await replaceRoute(want, this.socket);
      this.failing.delete(key);
      return true;
    } catch (err) {
      this.stats.routeErrors++;
      const code = err instanceof NetlinkError ? err.code : 'EUNKNOWN';
      const fields = { route: this.describe(want), ...(replacing ? { replacing } : {}), err: (err as Error).message };
      const hint = code === 'ENETUNREACH'
        ? `the peer's PublicIP is not on the network of ${this.ctx.extIface.name}; host-gw needs all hosts on one L2 network`
        : undefined;
      if (this.failing.get(key) !== code) {
        this.log.warn({ ...fields, ...(hint ? { hint } : {}) }, 'cannot install route; will retry');
      }
      else this.log.debug(fields, 'cannot install route; will retry');
      this.failing.set(key, code);
      return false;
    }
  }

  private describe(r: Parameters<typeof describeRoute>[0]): string {
    return describeRoute(r).replace(`dev #${this.ctx.extIface.index}`, `dev ${this.ctx.extIface.name}`);
  }
}

export function createHostGwBackend(ctx: BackendContext, opts?: HostGwOptions): Backend {
  return new HostGwBackend(ctx, opts);
}

registerBackend(HOSTGW_BACKEND_TYPE, (ctx) => createHostGwBackend(ctx));
