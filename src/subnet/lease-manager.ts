// Holds this host's subnet lease: acquires it (lease-acquisition.ts: upstream's order, flannel-compat §3), renews it
// before it expires and, unlike upstream (which exits 0), re-acquires it when it vanishes. The acquisition also
// carries deliberate fixes of upstream: a lost create race is retried with a fresh pick, and a reservation for our
// PublicIP is used and stays a reservation.
//
// Events: 'renewed' (lease), 'lost' (lease), 'reacquired' (lease, previous: Lease), 'pool-exhausted' (message).
// A re-acquisition that lands on another subnet is logged as an error (see onVanished for why we do not exit).
import { EventEmitter } from 'node:events';
import type { NetworkConfig } from '../config/network-config.js';
import type { Logger } from '../log.js';
import { formatCidr, netsEqual, type Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';
import { leaseIdentity, leaseName, subnetKey } from './codec.js';
import { describeEtcdError, reportEtcdError } from './etcd-client.js';
import type { Lease, LeaseAttrs } from './lease.js';
import { acquireLease } from './lease-acquisition.js';
import { writerOf, writtenBy } from './lease-owner.js';
import { renewDelayMs, renewRetryMs, verifyEveryMs } from './lease-timing.js';
import type { RegistryWatch, LeaseRegistry } from './registry.js';
import { Backoff, RateLimitedLog } from './retry-pacing.js';
import { TwinDetector } from './twin-detector.js';

// Where these lived before the split; tests import them from here.
export { renewDelayMs, renewRetryMs } from './lease-timing.js';

export interface LeaseManagerOptions {
  readonly registry: LeaseRegistry;
  readonly config: NetworkConfig;
  readonly attrs: LeaseAttrs;
  /** FLANNEL_SUBNET of an earlier subnet.env, network address form. */
  readonly previousSubnet: Ipv4Net | null;
  /** FLANNEL_IPV6_SUBNET of an earlier subnet.env, network address form (used only with EnableIPv6). */
  readonly previousIPv6Subnet?: Ipv6Net | null;
  readonly ttlSeconds: number;
  readonly renewMarginMinutes: number;
  readonly log: Logger;
  /** The lease list read ahead for the first acquisition (see AcquireRequest.firstList). */
  readonly firstList?: Promise<{ leases: Lease[] }>;
  /** For tests: the allocator's random source (default Math.random). */
  readonly random?: () => number;
  /** How often a full pool is looked at again (default 2 s). */
  readonly fullPoolRetryMs?: number;
}

export class LeaseManager extends EventEmitter {
  private o: LeaseManagerOptions;
  private readonly log: Logger;
  private readonly random: () => number;
  private current: Lease | null = null;
  private preferred: Ipv4Net | null;
  private preferredIPv6: Ipv6Net | null;
  private readonly stopController = new AbortController();
  private keeping = false;
  private reacquiring = false;
  /** Bumped whenever the lease is lost, so work started for an older lease does not act on the new one. */
  private generation = 0;
  private renewTimer: NodeJS.Timeout | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  /** The one pending re-check after the own-key watch broke (never several in parallel during an outage). */
  private recheckTimer: NodeJS.Timeout | null = null;
  private ownWatch: RegistryWatch | null = null;
  private readonly watchBackoff = new Backoff(100, 5000);
  private readonly renewTrouble: RateLimitedLog;
  private readonly watchTrouble: RateLimitedLog;
  /** Tells our renewals of our key from another daemon's (the etcd lease ids we granted). */
  private readonly twins: TwinDetector;

  private firstList: Promise<{ leases: Lease[] }> | undefined;

  constructor(o: LeaseManagerOptions) {
    super();
    this.o = o;
    this.firstList = o.firstList;
    this.log = o.log.child({ component: 'lease' });
    this.random = o.random ?? Math.random;
    this.preferred = o.previousSubnet;
    this.preferredIPv6 = o.previousIPv6Subnet ?? null;
    this.renewTrouble = new RateLimitedLog(this.log);
    this.watchTrouble = new RateLimitedLog(this.log);
    this.twins = new TwinDetector(this.log, () => this.keeping,
      () => ({ subnet: this.current ? formatCidr(this.current.subnet) : '?', publicIP: this.o.attrs.publicIP }),
      (etcdLeaseId) => this.emit('twin', etcdLeaseId));
  }

  /** The lease held now (null before acquire()). */
  get lease(): Lease | null {
    return this.current;
  }

  /**
   * Leases a subnet, retrying (with backoff, quietly) while etcd is unreachable or the pool is full. Rejects only
   * when `signal` aborts or stop() is called.
   */
  async acquire(signal?: AbortSignal): Promise<Lease> {
    const abort = signal ? AbortSignal.any([signal, this.stopController.signal]) : this.stopController.signal;
    const { registry, config, ttlSeconds, fullPoolRetryMs } = this.o;
    // The list read ahead is this process's first acquisition's only; a re-acquisition reads afresh.
    const firstList = this.firstList;
    this.firstList = undefined;
    const lease = await acquireLease({
      registry, config, attrs: () => this.o.attrs, ttlSeconds, fullPoolRetryMs, log: this.log, random: this.random,
      preferred: this.preferred, preferredIPv6: this.preferredIPv6,
      onPoolExhausted: (msg) => this.emit('pool-exhausted', msg), ...(firstList ? { firstList } : {}),
    }, abort);
    this.twins.remember(lease);
    this.current = lease;
    this.preferred = lease.subnet;
    this.preferredIPv6 = lease.ipv6Subnet ?? null;
    return lease;
  }

  /** Starts renewing the lease and watching it; call after acquire(). */
  keep(): void {
    if (!this.current) throw new Error('LeaseManager.keep called before acquire');
    if (this.keeping) return;
    this.keeping = true;
    this.scheduleRenew();
    this.watchOwn(this.current.revision);
    this.scheduleVerify();
  }

  /**
   * New BackendType/BackendData (a VtepMAC changed after a clash with a peer, a live backend switch): written at
   * once by a renewal.
   */
  republish(change: Partial<Pick<LeaseAttrs, 'backendType' | 'backendData' | 'backendV6Data'>>): void {
    this.o = { ...this.o, attrs: { ...this.o.attrs, ...change } };
    this.scheduleRenew(0);
  }

  async stop(): Promise<void> {
    this.keeping = false;
    this.stopController.abort();
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.renewTimer = null;
    this.verifyTimer = null;
    this.recheckTimer = null;
    const w = this.ownWatch;
    this.ownWatch = null;
    await w?.stop();
  }

  private scheduleRenew(delayMs?: number): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = null;
    const lease = this.current;
    if (!this.keeping || !lease || lease.expiration === null) return;
    const delay = delayMs ?? renewDelayMs({
      expiration: lease.expiration, now: Date.now(), ttlSeconds: this.o.ttlSeconds,
      renewMarginMinutes: this.o.renewMarginMinutes, random: this.random(),
    });
    this.log.debug({ subnet: formatCidr(lease.subnet), inMs: Math.round(delay) }, 'lease renewal scheduled');
    this.renewTimer = setTimeout(() => void this.renew(), delay);
  }

  private async renew(): Promise<void> {
    this.renewTimer = null;
    const lease = this.current;
    const generation = this.generation;
    if (!this.keeping || !lease || this.reacquiring) return;
    try {
      // Unlike upstream's unconditional Put, a key that vanished (e.g. expired during an etcd outage) is not
      // recreated here: that is a re-acquisition, which checks that nobody else took the subnet meanwhile.
      const renewed = await this.o.registry.renewExistingLease(lease, this.o.attrs, this.o.ttlSeconds);
      if (!this.keeping || generation !== this.generation) return;
      if (!renewed) {
        await this.onVanished('its key was gone at renewal time (expired while etcd was unreachable, or deleted)');
        return;
      }
      this.twins.remember(renewed);
      this.current = renewed;
      this.renewTrouble.clear('lease renewal works again');
      this.log.info({ subnet: formatCidr(renewed.subnet), expiration: renewed.expiration?.toISOString() }, 'lease renewed');
      this.emit('renewed', renewed);
      this.scheduleRenew();
    } catch (err) {
      if (!this.keeping) return;
      reportEtcdError('renew_lease');
      const delay = renewRetryMs(this.o.ttlSeconds);
      this.renewTrouble.problem('lease renewal failed; keeping the subnet and retrying',
        { subnet: formatCidr(lease.subnet), error: describeEtcdError(err), retryInMs: delay });
      this.scheduleRenew(delay);
    }
  }

  /** Follows our own key, so a delete (expiry, etcdctl del) is noticed at once. */
  private watchOwn(fromRevision: string): void {
    const lease = this.current;
    if (!this.keeping || !lease) return;
    this.ownWatch = this.o.registry.watchLeases((BigInt(fromRevision) + 1n).toString(), {
      connected: () => {
        this.watchBackoff.reset();
        this.watchTrouble.clear('watch on our lease is back');
      },
      events: (evts) => {
        for (const ev of evts) {
          if (ev.type === 'delete') {
            void this.onVanished(`its key ${this.o.registry.keyOf(ev.subnet, ev.ipv6Subnet)} was deleted (expired or removed)`);
            return;
          }
          if (!this.writtenByUs(ev.lease)) {
            void this.onVanished(`host ${writerOf(ev.lease, this.o.config.enableIPv4)} overwrote its key`, true);
            return;
          }
          if (this.current && netsEqual(this.current.subnet, ev.lease.subnet)
            && BigInt(ev.lease.revision) > BigInt(this.current.revision)) {
            this.twins.check(ev.lease.etcdLeaseId);
            // Our own renewal (or an operator's edit): keep the newest etcd lease id; our own expiration stays.
            this.current = { ...ev.lease, expiration: this.current.expiration ?? ev.lease.expiration };
          }
        }
      },
      broken: (_reason, err) => {
        this.ownWatch = null;
        if (!this.keeping) return;
        reportEtcdError('watch_own_lease');
        const delay = this.watchBackoff.next();
        this.watchTrouble.problem('watch on our lease broke; checking the lease and watching again',
          { error: describeEtcdError(err), retryInMs: delay });
        this.scheduleRecheck(delay);
      },
    }, lease.subnet, lease.ipv6Subnet);
  }

  private writtenByUs(lease: Lease): boolean {
    return writtenBy(lease, this.o.attrs, this.o.config.enableIPv4);
  }

  /** Periodic check that our key is still there (catches an etcd that lost data, or a missed event). */
  private scheduleVerify(): void {
    if (this.verifyTimer) clearTimeout(this.verifyTimer);
    const every = verifyEveryMs(this.o.ttlSeconds);
    this.verifyTimer = setTimeout(() => {
      this.verifyTimer = null;
      void this.verify().finally(() => {
        if (this.keeping) this.scheduleVerify();
      });
    }, every);
    this.verifyTimer.unref();
  }

  private scheduleRecheck(delayMs: number): void {
    if (this.recheckTimer || !this.keeping) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = null;
      void this.verify();
    }, delayMs);
  }

  private async verify(): Promise<void> {
    const lease = this.current;
    const generation = this.generation;
    if (!this.keeping || !lease || this.reacquiring) return;
    let read: { lease: Lease | null; revision: string };
    try {
      read = await this.o.registry.readLease(lease.subnet, lease.ipv6Subnet);
    } catch (err) {
      reportEtcdError('check_lease');
      // Unreachable: keep what we have; the watch is retried after its backoff.
      if (!this.ownWatch && this.keeping) {
        const delay = this.watchBackoff.next();
        this.watchTrouble.problem('cannot check our lease; etcd unreachable, keeping the subnet',
          { error: describeEtcdError(err), retryInMs: delay });
        this.scheduleRecheck(delay);
      }
      return;
    }
    if (!this.keeping || this.reacquiring || generation !== this.generation) return;
    if (!read.lease || !this.writtenByUs(read.lease)) {
      await this.onVanished(read.lease ? `host ${writerOf(read.lease, this.o.config.enableIPv4)} holds its key now` : 'its key is gone',
        read.lease !== null);
      return;
    }
    if (!this.ownWatch) this.watchOwn(read.revision);
  }

  /** `takenOver`: another writer put its own value on our key (an error: two hosts now claim one subnet). */
  private async onVanished(why: string, takenOver = false): Promise<void> {
    const old = this.current;
    if (!this.keeping || !old || this.reacquiring) return;
    this.reacquiring = true;
    this.generation++;
    this.log[takenOver ? 'error' : 'warn']({ subnet: leaseName(old.subnet, old.ipv6Subnet), key: this.o.registry.keyOf(old.subnet, old.ipv6Subnet) },
      `our lease vanished: ${why}; re-acquiring (the same subnet if it is still free)`);
    this.emit('lost', old);
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = null;
    const w = this.ownWatch;
    this.ownWatch = null;
    await w?.stop();
    this.preferred = old.subnet;
    this.preferredIPv6 = old.ipv6Subnet ?? null;
    let lease: Lease;
    try {
      lease = await this.acquire();
    } catch {
      this.reacquiring = false;
      return; // stopped
    }
    this.reacquiring = false;
    const same = leaseIdentity(lease.subnet, lease.ipv6Subnet) === leaseIdentity(old.subnet, old.ipv6Subnet);
    const fields = { subnet: leaseName(lease.subnet, lease.ipv6Subnet), previous: leaseName(old.subnet, old.ipv6Subnet),
      key: subnetKey(lease.subnet, lease.ipv6Subnet) };
    if (same) {
      this.log.warn(fields, 're-acquired the same subnet after losing its lease');
    } else {
      // Upstream exits here. We move on instead, so routes to every peer stay up; but this host's containers may
      // still hold addresses of the old subnet, which now belongs to someone else: only the operator can fix that.
      this.log.error(fields, `re-acquired a DIFFERENT subnet ${fields.subnet}: our lease for ${fields.previous} was `
        + `lost (${why}) and the subnet taken meanwhile; containers started before keep addresses in `
        + `${fields.previous} that now belong to another host: restart them (or the container runtime) so they use `
        + 'the new subnet.env');
    }
    this.emit('reacquired', lease, old);
    if (!this.keeping) return;
    this.scheduleRenew();
    this.watchOwn(lease.revision);
  }
}