// Follows the peers' leases: a snapshot, then a watch from the snapshot's revision + 1 (flannel-compat §1 "Watches").
// After a disconnect it resumes from the last revision it processed; after a compaction (etcd cancels the watch) it
// re-lists and emits the difference. A lease whose attributes changed is emitted as 'added' with the new attributes,
// exactly as a live PUT is, so backends see one kind of update. Removals carry the last attributes delivered.
//
// It keeps two maps: every lease seen (`known`) and the peers handed to the backends (`delivered`). Leases that fail
// ./lease-rules.ts are never delivered (and a delivered lease that turns bad is removed), each named once in a
// warning. When our own subnet changes (the lease manager re-acquired after a takeover) the two maps are reconciled,
// so the new owner of our old subnet is routed like any other peer.
import { KeyedRateLimit } from '../log-values.js';
import type { Logger } from '../log.js';
import { formatCidr, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6 } from '../net/ipv6.js';
import { isIpv6OnlySubnet, leaseIdentity, sameLeaseAttrs } from './codec.js';
import { describeEtcdError, reportEtcdError } from './etcd-client.js';
import type { Lease, LeaseEvent } from './lease.js';
import { judgeLease, overlappingLease, type Ipv6LeaseRules } from './lease-rules.js';
import type { LeaseRegistry, RegistryEvent, RegistryWatch } from './registry.js';
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
   * The config's Network, SubnetLen and our PublicIP: when given, leases that break ./lease-rules.ts with them
   * (outside the network, another length, over our subnet, a non-unicast or our own PublicIP) are skipped with
   * one warning per key, since routing them would hijack traffic.
   */
  readonly network?: Ipv4Net;
  readonly subnetLen?: number;
  readonly ownPublicIP?: string;
  /** With EnableIPv6: the rules for the IPv6 part of leases (our own v6 subnet may change with a re-acquisition). */
  readonly ipv6Rules?: () => Ipv6LeaseRules | null;
}

export class LeaseWatcher {
  private readonly registry: LeaseRegistry;
  private readonly ownSubnet: () => Ipv4Net;
  private readonly network: Ipv4Net | null;
  private readonly subnetLen: number | null;
  private readonly ownPublicIP: string | null;
  private readonly ipv6Rules: () => Ipv6LeaseRules | null;
  private readonly log: Logger;
  /** Subnet keys warned about as rejected, so each is said once while it stays bad. */
  private readonly rejected = new Set<string>();
  private readonly rejectPace = new KeyedRateLimit();
  private readonly trouble: RateLimitedLog;
  private readonly backoff = new Backoff(100, 5000);
  /** Every lease seen, own included, by subnet key. */
  private known = new Map<string, Lease>();
  /** The peers the handlers were given and not yet told to remove, by subnet key. */
  private delivered = new Map<string, Lease>();
  /** Our subnet's key when `delivered` was last made to agree with it. */
  private ownKey: string | null = null;
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
    this.subnetLen = o.subnetLen ?? null;
    this.ownPublicIP = o.ownPublicIP ?? null;
    this.ipv6Rules = o.ipv6Rules ?? (() => null);
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

  /**
   * Call when our own subnet changed (a re-acquisition): the subnet that stopped being ours becomes a peer's like any
   * other (its new owner is routed), and the one that became ours stops being a peer.
   */
  ownSubnetChanged(): void {
    if (this.stopped || this.revision === null) return;
    const evts = this.reconcile();
    if (evts.length > 0) this.deliver((h) => h.events(evts));
  }

  /** A lease a backend may act on. Says why not once per key; our own subnet is skipped quietly. */
  private isPeer(lease: Lease): boolean {
    const key = leaseIdentity(lease.subnet, lease.ipv6Subnet);
    const verdict = judgeLease(lease, { network: this.network, subnetLen: this.subnetLen,
      ownSubnet: this.ownSubnet(), ownPublicIP: this.ownPublicIP, ipv6: this.ipv6Rules() });
    if (verdict.ok || verdict.own) {
      this.rejected.delete(key);
      return verdict.ok;
    }
    if (!this.rejected.has(key)) {
      this.rejected.add(key);
      // A key deleted and written again in a loop is still named at most once per interval.
      if (this.rejectPace.take(key) === null) return false;
      const victim = overlappingLease(lease.subnet, this.known.values());
      const wins = victim ? `; it overlaps ${formatCidr(victim.subnet)} of ${victim.attrs.publicIP}, which keeps its routes` : '';
      const named = isIpv6OnlySubnet(lease.subnet) && lease.ipv6Subnet ? formatCidr6(lease.ipv6Subnet) : formatCidr(lease.subnet);
      this.log.warn({ key: this.registry.keyOf(lease.subnet, lease.ipv6Subnet), publicIP: lease.attrs.publicIP },
        `ignoring the lease for ${named}: ${verdict.why}${wins}; routing it would divert traffic. `
        + 'Delete or correct the key with etcdctl');
    }
    return false;
  }

  /** Our lease's identity: its IPv4 subnet, or in an IPv6-only network its IPv6 one. */
  private ownIdentity(): string {
    return leaseIdentity(this.ownSubnet(), this.ipv6Rules()?.ownSubnet);
  }

  /** Brings `delivered` in line with what `known` allows now; returns the events that does it. */
  private reconcile(): LeaseEvent[] {
    this.ownKey = this.ownIdentity();
    const evts: LeaseEvent[] = [];
    const next = new Map<string, Lease>();
    for (const [key, lease] of this.known) if (this.isPeer(lease)) next.set(key, lease);
    for (const [key, lease] of this.delivered) if (!next.has(key)) evts.push({ type: 'removed', lease });
    for (const [key, lease] of next) {
      const old = this.delivered.get(key);
      if (!old || !sameLeaseAttrs(old.attrs, lease.attrs)) evts.push({ type: 'added', lease });
    }
    this.delivered = next;
    return evts;
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
      // Backends never read a peer's expiry: no TimeToLive call per lease (1000 of them on a restart).
      listed = await this.registry.listLeases({ expiry: false });
    } catch (err) {
      if (this.stopped) return;
      reportEtcdError('list_leases');
      const delay = this.backoff.next();
      this.trouble.problem('listing leases failed; retrying', { error: describeEtcdError(err), retryInMs: delay });
      this.schedule(delay, () => this.relist());
      return;
    }
    if (this.stopped) return;
    const first = this.revision === null;
    this.known = new Map(listed.leases.map((l) => [leaseIdentity(l.subnet, l.ipv6Subnet), l]));
    for (const key of this.rejected) if (!this.known.has(key)) this.rejected.delete(key);
    const evts = this.reconcile();
    if (first) {
      const peers = [...this.delivered.values()];
      this.deliver((h) => h.reset(peers));
    } else {
      if (evts.length > 0) this.deliver((h) => h.events(evts));
      this.log.info({ revision: listed.revision, changes: evts.length }, 're-listed leases after the watch was canceled');
    }
    this.revision = BigInt(listed.revision);
    this.backoff.reset();
    this.startWatch();
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
    // Our subnet changed since the last reconcile and nobody said so yet: catch up before applying the events.
    const out: LeaseEvent[] = this.ownKey === this.ownIdentity() ? [] : this.reconcile();
    for (const ev of evts) {
      const key = ev.type === 'put' ? leaseIdentity(ev.lease.subnet, ev.lease.ipv6Subnet) : leaseIdentity(ev.subnet, ev.ipv6Subnet);
      const last = this.delivered.get(key);
      if (ev.type === 'put') {
        this.known.set(key, ev.lease);
        if (this.isPeer(ev.lease)) {
          this.delivered.set(key, ev.lease);
          out.push({ type: 'added', lease: ev.lease });
          continue;
        }
      } else {
        this.known.delete(key);
        this.rejected.delete(key);
      }
      // Deleted, or rewritten into something we refuse: what the backends have for it must go.
      if (last) {
        this.delivered.delete(key);
        out.push({ type: 'removed', lease: last });
      }
    }
    const rev = BigInt(revision);
    if (this.revision === null || rev > this.revision) this.revision = rev;
    this.backoff.reset();
    if (out.length > 0) this.deliver((h) => h.events(out));
  }
}
