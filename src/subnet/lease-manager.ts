// Holds this host's subnet lease: acquires it in upstream's order (flannel-compat §3), renews it before it expires
// and, unlike upstream (which exits 0), re-acquires it when it vanishes. Also deliberate fixes of upstream: a lost
// create race is retried with a fresh pick, and a reservation for our PublicIP is used and stays a reservation.
//
// Events: 'renewed' (lease), 'lost' (lease), 'reacquired' (lease, previous: Lease), 'pool-exhausted' (message).
// A re-acquisition that lands on another subnet is logged as an error (see onVanished for why we do not exit).
import { EventEmitter } from 'node:events';
import type { NetworkConfig } from '../config/network-config.js';
import type { Logger } from '../log.js';
import { formatCidr, netsEqual, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, type Ipv6Net } from '../net/ipv6.js';
import { chooseSubnet, poolExhaustedMessage } from './allocator.js';
import { leaseIdentity, leaseName, sameLeaseAttrs, subnetKey } from './codec.js';
import { describeEtcdError, reportEtcdError } from './etcd-client.js';
import type { Lease, LeaseAttrs } from './lease.js';
import { writerOf, writtenBy } from './lease-owner.js';
import type { RegistryWatch, LeaseRegistry } from './registry.js';
import { AbortedError, Backoff, RateLimitedLog, sleep } from './retry-pacing.js';

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
  /** For tests: the allocator's random source (default Math.random). */
  readonly random?: () => number;
  /** How often a full pool is looked at again (default 2 s). */
  readonly fullPoolRetryMs?: number;
}

/**
 * Milliseconds until the renewal: `expiration − margin`, as upstream. When the margin is more than half the TTL
 * (short test TTLs against the 60 min default), renew between 1/2 and 2/3 of the TTL instead.
 */
export function renewDelayMs(o: { expiration: Date; now: number; ttlSeconds: number; renewMarginMinutes: number; random: number }): number {
  const ttlMs = o.ttlSeconds * 1000;
  const marginMs = o.renewMarginMinutes * 60_000;
  const remaining = o.expiration.getTime() - o.now;
  if (marginMs <= ttlMs / 2) return Math.max(0, remaining - marginMs);
  return Math.max(0, remaining - ttlMs + ttlMs * (0.5 + o.random / 6));
}

/** After a failed renewal: upstream's one minute, sooner when the TTL is short. */
export function renewRetryMs(ttlSeconds: number): number {
  return Math.min(60_000, Math.max(500, (ttlSeconds * 1000) / 10));
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
  private readonly twinTrouble: RateLimitedLog;
  /** etcd lease ids this process granted for its key (the last few), to tell our renewals from someone else's. */
  private readonly grantedIds: string[] = [];

  constructor(o: LeaseManagerOptions) {
    super();
    this.o = o;
    this.log = o.log.child({ component: 'lease' });
    this.random = o.random ?? Math.random;
    this.preferred = o.previousSubnet;
    this.preferredIPv6 = o.previousIPv6Subnet ?? null;
    this.renewTrouble = new RateLimitedLog(this.log);
    this.watchTrouble = new RateLimitedLog(this.log);
    this.twinTrouble = new RateLimitedLog(this.log, 5 * 60_000);
  }

  private remember(lease: Lease): void {
    if (lease.etcdLeaseId === '0' || this.grantedIds.includes(lease.etcdLeaseId)) return;
    this.grantedIds.push(lease.etcdLeaseId);
    if (this.grantedIds.length > 8) this.grantedIds.shift();
  }

  /**
   * Our key was rewritten with an etcd lease we did not grant: another daemon with our PublicIP renewed it (two hosts
   * with one public IP, flannel-compat §11.10). Our own renewal's watch event can come before its reply, so look
   * again after a moment. Said once per 5 min, as an error: both hosts now use one subnet.
   */
  private checkForTwin(etcdLeaseId: string): void {
    if (etcdLeaseId === '0' || this.grantedIds.includes(etcdLeaseId)) return;
    setTimeout(() => {
      if (!this.keeping || this.grantedIds.includes(etcdLeaseId)) return;
      const subnet = this.current ? formatCidr(this.current.subnet) : '?';
      this.twinTrouble.problem(`another daemon with the same PublicIP ${this.o.attrs.publicIP} renews our lease for `
        + `${subnet}: two hosts share one public IP and so one subnet; give each host its own address `
        + '(--public-ip, --iface) and restart the one that is wrong', { subnet, otherEtcdLease: etcdLeaseId }, 'error');
      this.emit('twin', etcdLeaseId);
    }, 2000).unref();
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
    const unreachable = new RateLimitedLog(this.log);
    const fullLog = new RateLimitedLog(this.log, 5 * 60_000);
    const backoff = new Backoff(200, 5000);
    let races = 0;
    for (;;) {
      if (abort.aborted) throw new AbortedError();
      let outcome: Lease | 'race' | 'full';
      try {
        outcome = await this.tryAcquire();
      } catch (err) {
        if (abort.aborted) throw new AbortedError();
        reportEtcdError('acquire_lease');
        const delay = backoff.next();
        unreachable.problem('could not acquire a subnet lease; retrying', { error: describeEtcdError(err), retryInMs: delay });
        await sleep(delay, abort);
        continue;
      }
      unreachable.clear('etcd reachable again');
      backoff.reset();
      if (outcome === 'race') {
        // Another host created the key between our list and our txn: pick again from a fresh list.
        races++;
        if (races > 3) await sleep(Math.floor(this.random() * 200 * Math.min(races, 10)), abort);
        continue;
      }
      if (outcome === 'full') {
        const msg = this.poolExhaustedMessage();
        fullLog.problem(msg, {}, 'error');
        this.emit('pool-exhausted', msg);
        await sleep(this.o.fullPoolRetryMs ?? 2000, abort);
        continue;
      }
      fullLog.clear('a subnet became free');
      this.remember(outcome);
      this.current = outcome;
      this.preferred = outcome.subnet;
      this.preferredIPv6 = outcome.ipv6Subnet ?? null;
      return outcome;
    }
  }

  private async tryAcquire(): Promise<Lease | 'race' | 'full'> {
    const { registry, config, attrs, ttlSeconds } = this.o;
    const { leases } = await registry.listLeases();
    const choice = chooseSubnet({ config, leases, publicIP: attrs.publicIP, publicIPv6: attrs.publicIPv6, previous: this.preferred,
      previousIPv6: this.preferredIPv6, random: this.random });
    for (const stale of choice.staleOwn) {
      this.log.warn({ subnet: leaseName(stale.subnet, stale.ipv6Subnet) },
        'deleting our lease (same PublicIP) that does not fit the network config');
      await registry.deleteLease(stale.subnet, stale.ipv6Subnet);
    }
    switch (choice.kind) {
      case 'own': {
        const own = choice.lease;
        if (own.etcdLeaseId === '0') {
          // A reservation: used as it is; only its value is brought up to date, never a lease attached.
          const lease = sameLeaseAttrs(own.attrs, attrs) ? own : await registry.renewLease(own, attrs, 0);
          this.log.info({ subnet: leaseName(own.subnet, own.ipv6Subnet) }, 'using the reservation for our PublicIP');
          return lease;
        }
        const lease = await registry.renewLease(own, attrs, ttlSeconds);
        this.log.info({ subnet: leaseName(own.subnet, own.ipv6Subnet) }, 'found our existing lease (same PublicIP), reusing it');
        return lease;
      }
      case 'previous':
      case 'new': {
        const lease = await registry.createLease(choice.subnet, attrs, ttlSeconds, choice.ipv6Subnet);
        if (!lease) {
          this.log.info({ subnet: leaseName(choice.subnet, choice.ipv6Subnet) }, 'another host took this subnet first; picking again');
          return 'race';
        }
        this.log.info({ subnet: formatCidr(choice.subnet), ...(choice.ipv6Subnet ? { ipv6Subnet: formatCidr6(choice.ipv6Subnet) } : {}),
          how: choice.kind === 'previous' ? 'previous subnet (subnet file, or the one just lost)' : 'new' },
          'allocated subnet lease');
        return lease;
      }
      case 'full':
        return 'full';
    }
  }

  private poolExhaustedMessage(): string {
    return poolExhaustedMessage(this.o.config, this.o.registry.subnetsPrefix);
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
      this.remember(renewed);
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
            this.checkForTwin(ev.lease.etcdLeaseId);
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
    const every = Math.min(60_000, Math.max(1000, (this.o.ttlSeconds * 1000) / 2));
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
