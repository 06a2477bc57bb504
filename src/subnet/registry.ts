// The etcd side of subnet leases: upstream's keys (`<prefix>/config`, `<prefix>/subnets/A.B.C.D-LEN`) and calls
// (flannel-compat §1). Knows etcd and the wire formats; knows nothing of allocation policy or timers.
import * as path from 'node:path';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from '../log.js';
import type { Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';
import { encodeLeaseAttrs } from './codec.js';
import { expiryOf, GrantAhead } from './grant-ahead.js';
import { LeaseEntries } from './lease-entries.js';
import type { Lease, LeaseAttrs } from './lease.js';

/** What a watch reports, before the lease watcher adds the last known attributes to removals. */
export type RegistryEvent =
  | { readonly type: 'put'; readonly lease: Lease }
  | { readonly type: 'delete'; readonly subnet: Ipv4Net; readonly ipv6Subnet?: Ipv6Net | null; readonly revision: string };

export interface RegistryWatchHandlers {
  /** One watch response, in order; `revision` is the last revision it covers. */
  events(events: RegistryEvent[], revision: string): void;
  /**
   * The watch ended: 'disconnected' (stream lost; resume from the last revision) or 'canceled' (etcd refused it,
   * typically because the revision was compacted: re-list). The watch is already dropped; do not reuse it.
   */
  broken(reason: 'disconnected' | 'canceled', err: Error): void;
  /** etcd accepted the watch (a good moment to reset a backoff). */
  connected?(): void;
}

export interface ListOptions {
  /** Look up when each lease expires (default true). */
  readonly expiry?: boolean;
}

export interface RegistryWatch {
  stop(): Promise<void>;
}

/**
 * What a watch on the config key reports. No value: the follower reads the key once per burst of changes, so a
 * change it sees is always the latest text. `broken` and `connected` mean what they mean for a lease watch.
 */
export interface ConfigWatchHandlers {
  /** The config key was written or deleted at `revision`. */
  changed(revision: string): void;
  broken(reason: 'disconnected' | 'canceled', err: Error): void;
  connected?(): void;
}

/** The config text (null when the key is missing) and the revision it was read at, to watch from. */
export interface ConfigRead {
  readonly text: string | null;
  readonly revision: string;
}

/** Which etcd API a registry speaks: v3 (gRPC, etcd leases) or v2 (HTTP keys with a TTL, flannel up to 0.17). */
export type EtcdApi = 'v2' | 'v3';

/**
 * The seam between the lease manager and watcher and the store: both APIs keep `<prefix>/config` and
 * `<prefix>/subnets/A.B.C.D-LEN`. A revision is the v3 revision or the v2 etcd index; `etcdLeaseId` is '0' for a key
 * without expiry (a reservation) and otherwise an opaque id that changes with every write of a renewal.
 */
/** The keys of a network under an etcd prefix, alike in both APIs. Go's path.Join: cleaned, no trailing slash. */
export function networkKeys(prefix: string): { readonly configKey: string; readonly subnetsPrefix: string } {
  return { configKey: path.posix.join(prefix, 'config'), subnetsPrefix: path.posix.join(prefix, 'subnets') };
}

export interface LeaseRegistry {
  readonly api: EtcdApi;
  readonly configKey: string;
  readonly subnetsPrefix: string;
  /** `ipv6Subnet` only tells IPv6-only leases (`0.0.0.0-0&…`) apart; with an IPv4 half the IPv4 subnet is enough. */
  keyOf(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string;
  getConfigText(): Promise<string | null>;
  readConfig(): Promise<ConfigRead>;
  /** Watches the config key for changes after `afterRevision`; ends with `broken`, never resumes by itself. */
  watchConfig(afterRevision: string, handlers: ConfigWatchHandlers): RegistryWatch;
  /**
   * `expiry: false` leaves each lease's expiration null instead of asking etcd (v3: one TimeToLive call per lease);
   * for callers that only route or allocate, which never read it.
   */
  listLeases(opts?: ListOptions): Promise<{ leases: Lease[]; revision: string }>;
  getLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null>;
  readLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<{ lease: Lease | null; revision: string }>;
  /** `ipv6Subnet` makes a dual-stack key (v3 only: the v2 registry serves flannel ≤0.17 clusters, which have no IPv6). */
  createLease(subnet: Ipv4Net, attrs: LeaseAttrs, ttlSeconds: number, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null>;
  renewLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease>;
  renewExistingLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | null>;
  updateReservation(subnet: Ipv4Net, attrs: LeaseAttrs): Promise<Lease>;
  deleteLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<void>;
  /** Takes back a lease this host just created: exactly its key, whatever other key shares a half with it. */
  withdrawCreated(lease: Lease): Promise<void>;
  watchLeases(fromRevision: string, handlers: RegistryWatchHandlers, only?: Ipv4Net, onlyIpv6?: Ipv6Net | null): RegistryWatch;
  /** Asks for the next create's or renewal's etcd lease grant now (./grant-ahead.ts); v3 only. */
  grantAhead?(ttlSeconds: number): void;
  /** Revokes a grant asked ahead that nobody took. */
  dropGrantAhead?(): void;
}

/**
 * Drops etcd3's own per-response work on a watcher whose responses only we read: its 'data' listener (registered in
 * etcd3's Watcher constructor) re-emits every event by name, strips the client's namespace (ours has none) and turns
 * each response's revision into a BigNumber for resuming. Our watches are never resumed by etcd3 (a disconnect
 * cancels them: see watchLeases), so that revision is never read. Left alone unless it is the one listener there and
 * the client has no namespace.
 */
export function dropLibraryBookkeeping(w: Watcher): void {
  const own = w.listeners('data');
  const prefix = (w as unknown as { namespace?: { prefix?: Buffer } }).namespace?.prefix;
  if (own.length === 1 && prefix?.length === 0) w.off('data', own[0] as (...a: unknown[]) => void);
}

/**
 * Lets go of an etcd3 watcher that has ended. After 'error' etcd3 has already forgotten it and cancel() would crash
 * it; after 'disconnected' cancel() only detaches it locally.
 */
function detachWatcher(w: Watcher, cancel: boolean): void {
  if (cancel) void w.cancel().catch(() => undefined);
  w.removeAllListeners();
  w.on('error', () => undefined);
}

type ParsedEntry = { subnet: Ipv4Net; ipv6Subnet: Ipv6Net | null; attrs: LeaseAttrs };
/** One watch response's events, and the revision it brings the watch to ("0": that of its last event). */
type WatchBatch = { events: RegistryEvent[]; revision: string };

/** Leases whose TimeToLive lookups run at once while listing. */
const TTL_LOOKUP_CONCURRENCY = 16;

export class SubnetRegistry implements LeaseRegistry {
  readonly api = 'v3' as const;
  readonly configKey: string;
  readonly subnetsPrefix: string;
  private readonly log: Logger;
  private readonly entries: LeaseEntries;
  private readonly grants: GrantAhead;

  constructor(private readonly client: Etcd3, prefix: string, log: Logger) {
    this.log = log.child({ component: 'registry' });
    ({ configKey: this.configKey, subnetsPrefix: this.subnetsPrefix } = networkKeys(prefix));
    this.entries = new LeaseEntries(this.subnetsPrefix, this.log);
    this.grants = new GrantAhead((ttl) => client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }),
      (id) => client.leaseClient.leaseRevoke({ ID: id }));
  }

  grantAhead(ttlSeconds: number): void {
    this.grants.ask(ttlSeconds);
  }

  dropGrantAhead(): void {
    this.grants.drop();
  }

  keyOf(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string {
    return this.entries.keyOf(subnet, ipv6Subnet);
  }

  async getConfigText(): Promise<string | null> {
    return this.client.get(this.configKey).string();
  }

  async readConfig(): Promise<ConfigRead> {
    const res = await this.client.get(this.configKey).exec();
    return { text: res.kvs[0]?.value.toString() ?? null, revision: res.header.revision };
  }

  watchConfig(afterRevision: string, handlers: ConfigWatchHandlers): RegistryWatch {
    const w = this.client.watch().key(this.configKey).startRevision(String(BigInt(afterRevision) + 1n)).watcher();
    let done = false;
    const end = (reason: 'disconnected' | 'canceled', err: Error): void => {
      if (done) return;
      done = true;
      detachWatcher(w, reason === 'disconnected');
      handlers.broken(reason, err);
    };
    w.on('data', (res: IWatchResponse) => {
      const last = res.events[res.events.length - 1];
      if (!done && !res.canceled && last) handlers.changed(last.kv.mod_revision);
    });
    w.on('connected', () => { if (!done) handlers.connected?.(); });
    w.on('disconnected', (err: Error) => end('disconnected', err));
    // etcd refused the watch, typically a compacted revision: the caller reads the key again.
    w.on('error', (err: Error) => end('canceled', err));
    return {
      stop: async () => {
        if (done) return;
        done = true;
        await w.cancel().catch(() => undefined);
        detachWatcher(w, false);
      },
    };
  }

  /** All parseable leases under `<prefix>/subnets/` and the revision the list was taken at. */
  async listLeases(opts: ListOptions = {}): Promise<{ leases: Lease[]; revision: string }> {
    const res = await this.client.getAll().prefix(`${this.subnetsPrefix}/`).exec();
    const parsed: Array<{ kv: IKeyValue } & ParsedEntry> = [];
    const seen = new Set<string>();
    this.entries.startList();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      seen.add(key);
      const entry = this.parseKv(kv);
      if (entry) parsed.push({ kv, ...entry });
    }
    this.entries.endList(seen);
    if (opts.expiry === false) return { leases: parsed.map((p) => this.leaseWithoutExpiry(p.kv, p)), revision: res.header.revision };
    const leases: Lease[] = new Array(parsed.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < parsed.length) {
        const i = next++;
        const p = parsed[i]!;
        leases[i] = await this.toLease(p.kv, p);
      }
    };
    await Promise.all(Array.from({ length: Math.min(TTL_LOOKUP_CONCURRENCY, parsed.length) }, worker));
    return { leases, revision: res.header.revision };
  }

  /** The lease for one subnet, or null when the key does not exist (or does not parse). */
  async getLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null> {
    return (await this.readLease(subnet, ipv6Subnet)).lease;
  }

  /** getLease plus the revision it was read at (to watch the key from there). */
  async readLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<{ lease: Lease | null; revision: string }> {
    const res = await this.client.get(this.keyOf(subnet, ipv6Subnet)).exec();
    const kv = res.kvs[0];
    const entry = kv ? this.parseKv(kv) : null;
    const lease = kv && entry ? await this.toLease(kv, entry) : null;
    return { lease, revision: res.header.revision };
  }

  /**
   * Creates the key only if it does not exist (Grant, then Txn If(Version==0) Then Put WithLease). Returns null when
   * another host won the race; the granted lease is then revoked.
   */
  async createLease(subnet: Ipv4Net, attrs: LeaseAttrs, ttlSeconds: number, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null> {
    const key = this.entries.useKey(subnet, ipv6Subnet);
    const grant = await this.grants.take(ttlSeconds);
    const leaseId = grant.ID;
    const txn = await this.client.if(key, 'Version', '==', 0)
      .then(this.client.put(key).value(encodeLeaseAttrs(attrs)).lease(leaseId))
      .commit();
    if (!txn.succeeded) {
      await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch((err: Error) => {
        this.log.debug({ err: err.message, leaseId }, 'revoking the unused etcd lease failed; it expires by itself');
      });
      return null;
    }
    return {
      subnet, ipv6Subnet: ipv6Subnet ?? null, attrs, etcdLeaseId: leaseId, revision: txn.header.revision,
      expiration: expiryOf(grant),
    };
  }

  /**
   * Renews as upstream does: a new Grant and an unconditional Put attached to it (the old etcd lease expires unused).
   * A reservation (etcd lease 0) is rewritten without a lease, so it stays a reservation.
   */
  async renewLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const key = this.keyOf(lease.subnet, lease.ipv6Subnet);
    const value = encodeLeaseAttrs(attrs);
    if (lease.etcdLeaseId === '0') {
      const res = await this.client.put(key).value(value).exec();
      return { subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet ?? null, attrs, etcdLeaseId: '0', revision: res.header.revision, expiration: null };
    }
    const grant = await this.grants.take(ttlSeconds);
    const res = await this.client.put(key).value(value).lease(grant.ID).exec();
    return {
      subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet ?? null, attrs, etcdLeaseId: grant.ID, revision: res.header.revision,
      expiration: expiryOf(grant),
    };
  }

  /**
   * Renews only if the key still exists (Txn If(Version>0) Then Put WithLease): the same writes as renewLease, but a
   * key that expired or was deleted meanwhile is not silently recreated over a subnet another host may have taken.
   * Returns null when the key is gone. A reservation is rewritten without a lease.
   */
  async renewExistingLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | null> {
    const key = this.keyOf(lease.subnet, lease.ipv6Subnet);
    const put = this.client.put(key).value(encodeLeaseAttrs(attrs));
    if (lease.etcdLeaseId === '0') {
      const txn = await this.client.if(key, 'Version', '>', 0).then(put).commit();
      return txn.succeeded
        ? { subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet ?? null, attrs, etcdLeaseId: '0', revision: txn.header.revision, expiration: null }
        : null;
    }
    const grant = await this.grants.take(ttlSeconds);
    const txn = await this.client.if(key, 'Version', '>', 0).then(put.lease(grant.ID)).commit();
    if (!txn.succeeded) {
      await this.client.leaseClient.leaseRevoke({ ID: grant.ID }).catch(() => undefined);
      return null;
    }
    return {
      subnet: lease.subnet, ipv6Subnet: lease.ipv6Subnet ?? null, attrs, etcdLeaseId: grant.ID, revision: txn.header.revision,
      expiration: expiryOf(grant),
    };
  }

  /** Rewrites a reservation's value (e.g. new BackendData) without attaching a lease, so it stays a reservation. */
  async updateReservation(subnet: Ipv4Net, attrs: LeaseAttrs): Promise<Lease> {
    return this.renewLease({ subnet, attrs, etcdLeaseId: '0', revision: '0', expiration: null }, attrs, 0);
  }

  /** Revoking the etcd lease granted at the create removes the one key attached to it. */
  async withdrawCreated(lease: Lease): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: lease.etcdLeaseId });
  }

  async deleteLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<void> {
    await this.client.delete().key(this.keyOf(subnet, ipv6Subnet)).exec();
  }

  /**
   * Watches all leases (or one subnet's key) from `fromRevision`. Deliberately not resumed by etcd3 itself: on any
   * disconnect the watch is dropped and `broken` called, so the caller resumes from the revision it has processed.
   */
  watchLeases(fromRevision: string, handlers: RegistryWatchHandlers, only?: Ipv4Net, onlyIpv6?: Ipv6Net | null): RegistryWatch {
    let watcher: Watcher | null = null;
    let stopped = false;
    let ended = false;
    // Put events need a TimeToLive lookup. The lookups of all responses run at once (a burst of joins must not
    // wait one round trip per lease); only the delivery is chained, so events keep their order.
    let chain: Promise<void> = Promise.resolve();
    const end = (reason: 'disconnected' | 'canceled', err: Error): void => {
      if (ended || stopped) return;
      ended = true;
      const w = watcher;
      watcher = null;
      // After 'error' etcd3 has already forgotten the watcher: cancel() would crash it. After 'disconnected' the
      // manager is idle and cancel() only detaches it locally.
      if (w && reason === 'disconnected') void w.cancel().catch(() => undefined);
      w?.removeAllListeners();
      w?.on('error', () => undefined);
      void chain.then(() => handlers.broken(reason, err));
    };
    const builder = only
      ? this.client.watch().key(this.keyOf(only, onlyIpv6))
      : this.client.watch().prefix(`${this.subnetsPrefix}/`);
    const w = builder.startRevision(fromRevision).watcher();
    dropLibraryBookkeeping(w);
    watcher = w;
    // Responses whose events need no lookup are handed on in the same turn unless earlier ones still wait.
    let waiting = 0;
    const hand = ({ events, revision }: WatchBatch): void => {
      if (!ended && !stopped && (events.length > 0 || revision !== '0')) handlers.events(events, revision);
    };
    w.on('data', (res: IWatchResponse) => {
      if (ended || stopped || res.canceled) return;
      let converted: WatchBatch | Promise<WatchBatch>;
      try {
        converted = this.convertWatchResponse(res, only !== undefined);
        if (!(converted instanceof Promise) && waiting === 0) {
          hand(converted);
          return;
        }
      } catch (err) {
        end('disconnected', err as Error);
        return;
      }
      const later = Promise.resolve(converted);
      later.catch(() => undefined); // observed through the chain below
      waiting++;
      chain = chain.then(async () => hand(await later)).catch((err: Error) => end('disconnected', err))
        .finally(() => { waiting--; });
    });
    w.on('connected', () => {
      if (!ended && !stopped) handlers.connected?.();
    });
    w.on('disconnected', (err: Error) => end('disconnected', err));
    w.on('error', (err: Error) => end('canceled', err));
    return {
      stop: async () => {
        if (stopped) return;
        stopped = true;
        const cur = watcher;
        watcher = null;
        if (cur && !ended) await cur.cancel().catch(() => undefined);
        cur?.removeAllListeners();
        cur?.on('error', () => undefined);
      },
    };
  }

  /**
   * `withExpiry`: look up each put's TimeToLive (as upstream does) for the single-key watch on our own lease, whose
   * expiry schedules the renewal. The prefix watch feeds routing, which never reads a peer's expiry; there the lookup
   * was one gRPC call per joining peer, most of the CPU of a burst of joins, so its leases carry expiration null.
   */
  private convertWatchResponse(res: IWatchResponse, withExpiry: boolean): WatchBatch | Promise<WatchBatch> {
    const events: Array<RegistryEvent | Promise<RegistryEvent>> = [];
    let revision = res.events.length === 0 ? res.header.revision : '0';
    let lookups = false;
    for (const ev of res.events) {
      revision = ev.kv.mod_revision;
      if (ev.type === 'Delete') {
        const parts = this.entries.partsOf(ev.kv.key.toString());
        if (parts) events.push({ type: 'delete', ...parts, revision: ev.kv.mod_revision });
        continue;
      }
      // The key is parsed once, here (a burst of joins is 1000 of these).
      const entry = this.parseKv(ev.kv);
      if (!entry) continue;
      if (withExpiry) {
        lookups = true;
        events.push(this.toLease(ev.kv, entry).then((lease) => ({ type: 'put', lease })));
      } else {
        events.push({ type: 'put', lease: this.leaseWithoutExpiry(ev.kv, entry) });
      }
    }
    return lookups ? Promise.all(events).then((all) => ({ events: all, revision }))
      : { events: events as RegistryEvent[], revision };
  }

  private parseKv(kv: IKeyValue): ParsedEntry | null {
    return this.entries.parse(kv.key.toString(), kv.value.toString());
  }

  private leaseWithoutExpiry(kv: IKeyValue, { subnet, ipv6Subnet, attrs }: ParsedEntry): Lease {
    const etcdLeaseId = kv.lease && kv.lease !== '' ? kv.lease : '0';
    return { subnet, ipv6Subnet, attrs, expiration: null, etcdLeaseId, revision: kv.mod_revision };
  }

  private async toLease(kv: IKeyValue, entry: ParsedEntry): Promise<Lease> {
    const lease = this.leaseWithoutExpiry(kv, entry);
    if (lease.etcdLeaseId === '0') return lease;
    const ttl = await this.client.leaseClient.leaseTimeToLive({ ID: lease.etcdLeaseId });
    // TTL −1: the lease is already gone; the key's delete event is on its way.
    return { ...lease, expiration: new Date(Date.now() + Math.max(0, Number(ttl.TTL)) * 1000) };
  }
}
