// The host-gw backend (flannel-compat §6): every peer's subnet is routed via the peer's PublicIP on the external
// interface. The kernel table is compared with the leases after every change, every 10 s, and promptly when the
// netlink monitor sees one of our routes go, IPv4 or IPv6 (or the interface come back). Routes carry TSFLANNELD_ROUTE_PROTOCOL,
// so stale ones left by an earlier run (upstream #2554) are told apart from everyone else's and removed.
import type { Backend, BackendClaims, BackendContext, BackendRegistration } from '../backend.js';
import { Keeper } from '../kit/keeper.js';
import { foreignBackendReason, PeerDiff, peerKey, type PeerReading, type PeerStep } from '../kit/peer-diff.js';
import { PeerPassLog } from '../kit/peer-log.js';
import { registerBackend } from '../registry.js';
import type { Lease, LeaseEvent } from '../../subnet/lease.js';
import type { Logger } from '../../log.js';
import { NetlinkError } from '../../netlink/errors.js';
import type { MonitorEvent } from '../../netlink/monitor.js';
import { dstKey, planRoutes } from '../../netlink/route-plan.js';
import {
  deleteRouteIfPresent, describeRoute, listRoutes, replaceRoute, type KernelRoute, type RouteSpec,
} from '../../netlink/routes.js';
import { sharedRtSocket, type RtSocket } from '../../netlink/socket.js';
import { deleteRoute6IfPresent, describeRoute6, listOwnRoutes6, replaceRoute6 } from '../../netlink/routes6.js';
import { formatCidr6, nets6Equal } from '../../net/ipv6.js';
import { planRoutes6, route6ForLease } from './ipv6-routes.js';
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
  private readonly diff: PeerDiff<Lease>;
  private readonly keeper: Keeper;
  /** Per-route lines at info for the first few of a pass, then one summary (1000 joins are not 1000 info lines). */
  private readonly passLog: PeerPassLog;
  private own: Lease | null = null;
  /** Until the first full peer list arrives we cannot tell stale routes from routes of peers not yet seen. */
  private peersKnown = false;
  /** Destinations we have seen in place: a later absence is a recovery, not a first install. */
  private readonly installed = new Set<string>();
  /** The same for the IPv6 routes of a dual-stack or IPv6-only network. */
  private readonly installed6 = new Set<string>();
  /** Last failure per destination, so a peer that keeps failing is warned about once, not every 10 s. */
  private readonly failing = new Map<string, string>();
  private stopped = false;
  private readonly stats = {
    routesAdded: 0, routesReplaced: 0, routesRecovered: 0, routesRemoved: 0, routeErrors: 0, reconciles: 0,
  };

  constructor(private readonly ctx: BackendContext, opts: HostGwOptions = {}) {
    this.log = ctx.log.child({ component: 'backend-host-gw' });
    this.socket = opts.socket ?? sharedRtSocket();
    this.diff = new PeerDiff((lease) => readHostGwPeer(lease), this.log);
    this.passLog = new PeerPassLog(this.log);
    this.keeper = new Keeper({
      work: ctx.work, log: this.log, everyMs: opts.resyncIntervalMs ?? DEFAULT_RESYNC_MS, retryMinMs: RETRY_MIN_MS,
      groups: ctx.network.ipv6 ? ['route', 'route6', 'addr'] : ['route', 'addr'], concerns: (e) => this.concerns(e), resync: (reason) => this.reconcile(reason),
      ...(opts.watchKernel !== undefined ? { watchKernel: opts.watchKernel } : {}),
    });
  }

  claims(): BackendClaims {
    return { devices: [], ownsRoute: (r) => isOwnedHostGwRoute(r, this.ctx.network.network, this.ctx.extIface.index) };
  }

  async register(): Promise<BackendRegistration> {
    const refusal = natRefusal(this.ctx.extIface);
    if (refusal) throw new Error(refusal);
    return { backendType: HOSTGW_BACKEND_TYPE, mtu: this.ctx.extIface.mtu };
  }

  async start(own: Lease): Promise<void> {
    this.own = own;
    this.peers.delete(peerKey(own));
    this.keeper.start();
    if (this.peersKnown) this.keeper.passDone(await this.reconcile('own lease changed'));
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    this.apply(this.diff.reset(peers, this.peers.keys()));
    this.peersKnown = true;
    this.keeper.passDone(await this.reconcile('peer list'));
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    this.apply(this.diff.events(events));
    this.keeper.passDone(await this.reconcile('lease events'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.keeper.stop();
  }

  /** Removes every route of ours (whatever lease it served): the next backend starts from a clean table. */
  async teardown(): Promise<void> {
    await this.stop();
    const owned = this.claims();
    for (const r of await listRoutes({}, this.socket)) {
      if (!owned.ownsRoute(r)) continue;
      await deleteRouteIfPresent(r, this.socket);
      this.log.info({ route: this.describe(r) }, 'route removed: backend torn down');
    }
    const v6 = this.ctx.network.ipv6;
    if (!v6) return;
    for (const r of planRoutes6([], await listOwnRoutes6(this.socket), v6.network, this.ctx.extIface.index).remove) {
      await deleteRoute6IfPresent(r, this.socket);
      this.log.info({ route: this.describe6(r) }, 'route removed: backend torn down');
    }
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.stats, peers: this.peers.size, ignored_leases: this.diff.ignoredLeases };
  }

  private apply(steps: readonly PeerStep<Lease>[]): void {
    const ownKey = this.own ? peerKey(this.own) : null;
    for (const s of steps) {
      if (s.op === 'remove') this.peers.delete(s.key);
      else if (s.key !== ownKey) this.peers.set(s.key, s.peer);
    }
  }

  /** A kernel change that may have taken one of our routes away. */
  private concerns(e: MonitorEvent): boolean {
    const ext = this.ctx.extIface.index;
    switch (e.kind) {
      case 'route':
        return e.action === 'del' && this.peers.has(dstKey(e.route));
      case 'route6': {
        if (e.action !== 'del') return false;
        const dst = e.route.dst;
        return [...this.peers.values()].some((l) => !!l.ipv6Subnet && nets6Equal(l.ipv6Subnet, dst));
      }
      case 'link':
        // A link that goes down loses its routes without a notification per route; resync when it is back.
        return e.action === 'new' && e.link.index === ext && e.link.up;
      case 'addr':
        return e.message.data.index === ext;
      default:
        return false;
    }
  }

  /** One pass; a surprise never escapes into a timer or event callback: the keeper retries soon. */
  private async reconcile(reason: string): Promise<boolean> {
    if (this.stopped) return true;
    try {
      return await this.passLog.pass(() => this.reconcileOnce(reason));
    } catch (err) {
      this.stats.routeErrors++;
      this.log.error({ err, reason }, 'route reconcile failed; will retry');
      return false;
    }
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
    // IPv6-only: every lease's IPv4 half is 0.0.0.0/0, nothing to route (and any IPv4 route of ours is stale).
    const desired = this.ctx.network.enableIPv4 ? routesForLeases(this.peers.values(), ext.index) : [];
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
        this.passLog.peer({ route: this.describe(want), reason }, 'route recovered');
      } else {
        this.stats.routesAdded++;
        this.passLog.peer({ route: this.describe(want) }, 'route added');
      }
    }));
    await Promise.all(plan.replace.map(async ({ want, have }) => {
      if (!(await this.install(want, this.describe(have)))) return void failures++;
      this.stats.routesReplaced++;
      this.passLog.peer({ route: this.describe(want), replaced: this.describe(have) }, 'route replaced');
    }));
    await Promise.all(plan.remove.map(async (have) => {
      try {
        await deleteRouteIfPresent(have, this.socket);
        this.stats.routesRemoved++;
        this.installed.delete(dstKey(have));
        this.passLog.peer({ route: this.describe(have) }, 'route removed: no lease backs it');
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
    return failures === 0 && await this.reconcile6(reason);
  }

  /** The IPv6 half of a dual-stack or IPv6-only network: the same comparison for the peers' IPv6 subnets. */
  private async reconcile6(reason: string): Promise<boolean> {
    const v6 = this.ctx.network.ipv6;
    if (!v6) return true;
    const ext = this.ctx.extIface.index;
    const desired = [...this.peers.values()].flatMap((l) => route6ForLease(l, ext) ?? []);
    const actual = await listOwnRoutes6(this.socket);
    const present = new Set(actual.map((r) => formatCidr6(r.dst)));
    const plan = planRoutes6(desired, actual, v6.network, ext);
    const failed = new Set<string>();
    for (const want of plan.install) {
      const key = formatCidr6(want.dst);
      try {
        await replaceRoute6(want, this.socket);
        if (present.has(key)) {
          this.stats.routesReplaced++;
          this.log.info({ route: this.describe6(want) }, 'route replaced');
        } else if (this.installed6.has(key)) {
          this.stats.routesRecovered++;
          this.log.info({ route: this.describe6(want), reason }, 'route recovered');
        } else {
          this.stats.routesAdded++;
          this.log.info({ route: this.describe6(want) }, 'route added');
        }
      } catch (err) {
        failed.add(key);
        this.stats.routeErrors++;
        this.log.warn({ route: this.describe6(want), err: (err as Error).message }, 'cannot install route; will retry');
      }
    }
    for (const have of plan.remove) {
      await deleteRoute6IfPresent(have, this.socket);
      this.stats.routesRemoved++;
      this.log.info({ route: this.describe6(have) }, 'route removed: no lease backs it');
    }
    this.installed6.clear();
    for (const want of desired) if (!failed.has(formatCidr6(want.dst))) this.installed6.add(formatCidr6(want.dst));
    return failed.size === 0;
  }

  private describe6(r: Parameters<typeof describeRoute6>[0]): string {
    return describeRoute6(r).replace(`dev #${this.ctx.extIface.index}`, `dev ${this.ctx.extIface.name}`);
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

/** Only host-gw leases with an IPv4 PublicIP are routed; others are warned about once each. */
function readHostGwPeer(lease: Lease): PeerReading<Lease> {
  const foreign = foreignBackendReason(lease, HOSTGW_BACKEND_TYPE);
  return foreign === null ? { kind: 'peer', peer: lease } : { kind: 'ignored', reason: foreign };
}

registerBackend(HOSTGW_BACKEND_TYPE, (ctx) => createHostGwBackend(ctx));
