// Follows the peers' leases: a snapshot, then a watch from the snapshot's revision + 1 (flannel-compat §1 "Watches").
// After a disconnect it resumes from the last revision it processed; after a compaction (etcd cancels the watch) it
// re-lists and emits the difference. A lease whose attributes changed is emitted as 'added' with the new attributes,
// exactly as a live PUT is, so backends see one kind of update. Removals carry the last attributes seen.
import type { Logger } from '../log.js';
import { formatCidr, netContainsNet, netsEqual, netsOverlap, type Ipv4Net } from '../net/ipv4.js';
import { sameLeaseAttrs, subnetKey } from './codec.js';
import { describeEtcdError, reportEtcdError } from './etcd-client.js';
import type { Lease, LeaseEvent } from './lease.js';
import type { RegistryEvent, RegistryWatch, LeaseRegistry } from './registry.js';
import { Backoff, RateLimitedLog } from './retry-pacing.js';

export interface LeaseWatchHandlers {
  /** The complete set of peers: after the first list. */
  reset(peers: Lease[]): Promise<void> | void;
  /** Incremental changes in order, own subnet excluded. */
  events(evts: LeaseEvent[]): Promise<void> | void;
}

export interface LeaseWatcherOptions {
  readonly registry: LeaseRegistry;
  readonly ownSubnet: () => Ipv4Net;
  readonly log: Logger;
  /**
   * The config's Network. When given, a lease that is not a proper subnet of it (the whole network, 0.0.0.0/0, a
   * subnet elsewhere) or that overlaps our own subnet is skipped with a warning: routing it would hijack traffic.
   */
  readonly network?: Ipv4Net;
}

export class LeaseWatcher {
  private readonly registry: LeaseRegistry;
  private readonly ownSubnet: () => Ipv4Net;
  private readonly network: Ipv4Net | null;
  private readonly log: Logger;
  /** Subnet keys already warned about as misplaced, so each is said once. */
  private readonly misplaced = new Set<string>();
  private readonly trouble: RateLimitedLog;
  private readonly backoff = new Backoff(100, 5000);
  /** Every lease seen, own included, by subnet key. */
  private known = new Map<string, Lease>();
  private revision: bigint | null = null;
  private handlers: LeaseWatchHandlers | null = null;
  private watch: RegistryWatch | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Handler calls, one after the other, so a slow backend never sees events out of order. */
  private delivery: Promise<void> = Promise.resolve();

  constructor(o: LeaseWatcherOptions) {
    this.registry = o.registry;
    this.ownSubnet = o.ownSubnet;
    this.network = o.network ?? null;
    this.log = o.log.child({ component: 'watcher' });
    this.trouble = new RateLimitedLog(this.log);
  }

  start(h: LeaseWatchHandlers): void {
    if (this.handlers) throw new Error('LeaseWatcher.start called twice');
    this.handlers = h;
    this.schedule(0, () => this.relist());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.watch;
    this.watch = null;
    await w?.stop();
    await this.delivery;
  }

  /** The revision processed last (for status output and tests). */
  lastRevision(): string | null {
    return this.revision === null ? null : this.revision.toString();
  }

  private schedule(ms: number, fn: () => Promise<void>): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void fn();
    }, ms);
  }

  private isOwn(subnet: Ipv4Net): boolean {
    return netsEqual(subnet, this.ownSubnet());
  }

  /** A lease a backend may act on: not ours, inside the network, not over our own subnet. */
  private isPeer(lease: Lease): boolean {
    const subnet = lease.subnet;
    const own = this.ownSubnet();
    if (netsEqual(subnet, own)) return false;
    let why: string | null = null;
    if (this.network && (!netContainsNet(this.network, subnet) || subnet.prefixLen <= this.network.prefixLen)) {
      why = `it is not a subnet inside the network ${formatCidr(this.network)}`;
    } else if (netsOverlap(subnet, own)) {
      why = `it overlaps our own subnet ${formatCidr(own)}`;
    }
    if (why === null) return true;
    const key = subnetKey(subnet);
    if (!this.misplaced.has(key)) {
      this.misplaced.add(key);
      this.log.warn({ key: this.registry.keyOf(subnet), publicIP: lease.attrs.publicIP },
        `ignoring the lease for ${formatCidr(subnet)}: ${why}; delete the key with etcdctl del`);
    }
    return false;
  }

  private deliver(call: (h: LeaseWatchHandlers) => Promise<void> | void): void {
    const h = this.handlers;
    if (!h) return;
    this.delivery = this.delivery.then(() => call(h)).catch((err: unknown) => {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'lease event handler failed');
    });
  }

  /** Lists all leases; the first time hands the peers to reset(), later emits only the difference. */
  private async relist(): Promise<void> {
    let listed: { leases: Lease[]; revision: string };
    try {
      listed = await this.registry.listLeases();
    } catch (err) {
      if (this.stopped) return;
      reportEtcdError('list_leases');
      const delay = this.backoff.next();
      this.trouble.problem('listing leases failed; retrying', { error: describeEtcdError(err), retryInMs: delay });
      this.schedule(delay, () => this.relist());
      return;
    }
    if (this.stopped) return;
    const next = new Map(listed.leases.map((l) => [subnetKey(l.subnet), l]));
    const first = this.revision === null;
    if (first) {
      const peers = listed.leases.filter((l) => this.isPeer(l));
      this.deliver((h) => h.reset(peers));
    } else {
      const evts = this.difference(this.known, next).filter((e) => this.isPeer(e.lease));
      if (evts.length > 0) this.deliver((h) => h.events(evts));
      this.log.info({ revision: listed.revision, changes: evts.length }, 're-listed leases after the watch was canceled');
    }
    this.known = next;
    this.revision = BigInt(listed.revision);
    this.backoff.reset();
    this.startWatch();
  }

  private difference(before: Map<string, Lease>, after: Map<string, Lease>): LeaseEvent[] {
    const evts: LeaseEvent[] = [];
    for (const [key, lease] of before) if (!after.has(key)) evts.push({ type: 'removed', lease });
    for (const [key, lease] of after) {
      const old = before.get(key);
      if (!old || !sameLeaseAttrs(old.attrs, lease.attrs)) evts.push({ type: 'added', lease });
    }
    return evts;
  }

  private startWatch(): void {
    if (this.stopped || this.revision === null) return;
    const from = (this.revision + 1n).toString();
    this.watch = this.registry.watchLeases(from, {
      connected: () => {
        this.backoff.reset();
        this.trouble.clear('lease watch is back', { revision: this.lastRevision() });
      },
      events: (evts, revision) => this.onEvents(evts, revision),
      broken: (reason, err) => {
        this.watch = null;
        if (this.stopped) return;
        const delay = this.backoff.next();
        if (reason === 'canceled') {
          // Typically "required revision has been compacted": what happened in between is only knowable by a list.
          this.log.warn({ error: err.message, revision: this.lastRevision() }, 'lease watch canceled by etcd; re-listing');
          this.schedule(delay, () => this.relist());
        } else {
          reportEtcdError('watch_leases');
          this.trouble.problem('lease watch disconnected; resuming from the last revision',
            { error: describeEtcdError(err), revision: this.lastRevision(), retryInMs: delay });
          this.schedule(delay, async () => this.startWatch());
        }
      },
    });
  }

  private onEvents(evts: RegistryEvent[], revision: string): void {
    const out: LeaseEvent[] = [];
    for (const ev of evts) {
      if (ev.type === 'put') {
        const key = subnetKey(ev.lease.subnet);
        this.known.set(key, ev.lease);
        if (this.isPeer(ev.lease)) out.push({ type: 'added', lease: ev.lease });
      } else {
        const key = subnetKey(ev.subnet);
        const last = this.known.get(key);
        this.known.delete(key);
        if (last && !this.isOwn(ev.subnet) && !this.misplaced.delete(key)) out.push({ type: 'removed', lease: last });
      }
    }
    const rev = BigInt(revision);
    if (this.revision === null || rev > this.revision) this.revision = rev;
    this.backoff.reset();
    if (out.length > 0) this.deliver((h) => h.events(out));
  }
}
