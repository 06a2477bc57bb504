// The etcd v2 side of subnet leases, as flannel 0.7 keeps them: `<prefix>/config`, `<prefix>/subnets/A.B.C.D-LEN` with a
// TTL; create with prevExist=false, renew as a compare-and-swap on the value last seen, list recursively, and a
// recursive long-poll watch from an etcd index. A revision here is the v2 etcd index; an "etcd lease id" is the
// key's modifiedIndex while it has a TTL ('0' for a key without one, i.e. a reservation).
import type { Logger } from '../../log.js';
import type { Ipv4Net } from '../../net/ipv4.js';
import { encodeLeaseAttrs } from '../codec.js';
import type { Lease, LeaseAttrs } from '../lease.js';
import { LeaseEntries } from '../lease-entries.js';
import { networkKeys, type ConfigRead, type ConfigWatchHandlers, type LeaseRegistry, type RegistryEvent, type RegistryWatch, type RegistryWatchHandlers } from '../registry.js';
import {
  type EtcdV2Client, EtcdV2Error, type V2Node, type V2Response, type V2WaitHandle,
  V2_EVENT_INDEX_CLEARED, V2_KEY_NOT_FOUND, V2_NODE_EXIST, V2_TEST_FAILED,
} from './client.js';

const REMOVAL_ACTIONS = new Set(['delete', 'expire', 'compareAndDelete']);

export class V2SubnetRegistry implements LeaseRegistry {
  readonly api = 'v2' as const;
  readonly configKey: string;
  readonly subnetsPrefix: string;
  private readonly log: Logger;
  private readonly entries: LeaseEntries;
  /** Key → the value last read or written, the `prevValue` of a renewal's compare-and-swap. */
  private readonly lastValues = new Map<string, string>();

  constructor(private readonly client: EtcdV2Client, prefix: string, log: Logger) {
    this.log = log.child({ component: 'registry', api: 'v2' });
    ({ configKey: this.configKey, subnetsPrefix: this.subnetsPrefix } = networkKeys(prefix));
    this.entries = new LeaseEntries(this.subnetsPrefix, this.log);
  }

  keyOf(subnet: Ipv4Net): string {
    return this.entries.keyOf(subnet);
  }

  async getConfigText(): Promise<string | null> {
    const res = await this.client.getOrNull(this.configKey);
    return res && !res.node.dir ? res.node.value ?? '' : null;
  }

  async readConfig(): Promise<ConfigRead> {
    try {
      const res = await this.client.get(this.configKey);
      return { text: res.node.dir ? null : res.node.value ?? '', revision: String(res.etcdIndex) };
    } catch (err) {
      if (err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND) return { text: null, revision: String(err.index) };
      throw err;
    }
  }

  /** A long poll on the config key from the index after `afterRevision`; `401 event index cleared` is 'canceled'. */
  watchConfig(afterRevision: string, handlers: ConfigWatchHandlers): RegistryWatch {
    return this.longPoll(this.configKey, Number(afterRevision) + 1, false, handlers, (res) => {
      handlers.changed(String(res.node.modifiedIndex));
      return true;
    });
  }

  async listLeases(): Promise<{ leases: Lease[]; revision: string }> {
    let res: V2Response;
    try {
      res = await this.client.get(this.subnetsPrefix, { recursive: true });
    } catch (err) {
      // No subnets/ directory yet: nothing leased; watch from the index etcd named.
      if (err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND) return { leases: [], revision: String(err.index) };
      throw err;
    }
    this.entries.startList();
    const seen = new Set<string>();
    const leases: Lease[] = [];
    for (const node of res.node.nodes ?? []) {
      if (node.dir) continue;
      seen.add(node.key);
      const lease = this.toLease(node);
      if (lease) leases.push(lease);
    }
    this.entries.endList(seen);
    for (const key of this.lastValues.keys()) if (!seen.has(key)) this.lastValues.delete(key);
    return { leases, revision: String(res.etcdIndex) };
  }

  async getLease(subnet: Ipv4Net): Promise<Lease | null> {
    return (await this.readLease(subnet)).lease;
  }

  async readLease(subnet: Ipv4Net): Promise<{ lease: Lease | null; revision: string }> {
    try {
      const res = await this.client.get(this.keyOf(subnet));
      return { lease: res.node.dir ? null : this.toLease(res.node), revision: String(res.etcdIndex) };
    } catch (err) {
      if (err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND) return { lease: null, revision: String(err.index) };
      throw err;
    }
  }

  async createLease(subnet: Ipv4Net, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | null> {
    this.entries.forgetForeign(subnet);
    try {
      return this.written(await this.client.set(this.keyOf(subnet), encodeLeaseAttrs(attrs), { prevExist: false, ttlSeconds }), subnet, attrs);
    } catch (err) {
      if (err instanceof EtcdV2Error && err.code === V2_NODE_EXIST) return null;
      throw err;
    }
  }

  /** An unconditional write with a fresh TTL (none for a reservation), as flannel 0.7 renews. */
  async renewLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const opts = lease.etcdLeaseId === '0' ? {} : { ttlSeconds };
    return this.written(await this.client.set(this.keyOf(lease.subnet), encodeLeaseAttrs(attrs), opts), lease.subnet, attrs);
  }

  /**
   * Renews only if the key still holds the value last seen (prevValue), or at least exists when none was seen: a key
   * that expired, was deleted or was taken over meanwhile is not overwritten. Returns null then.
   */
  async renewExistingLease(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | null> {
    const key = this.keyOf(lease.subnet);
    const prev = this.lastValues.get(key);
    try {
      const res = await this.client.set(key, encodeLeaseAttrs(attrs), {
        ...(lease.etcdLeaseId === '0' ? {} : { ttlSeconds }),
        ...(prev !== undefined ? { prevValue: prev } : { prevExist: true }),
      });
      return this.written(res, lease.subnet, attrs);
    } catch (err) {
      if (err instanceof EtcdV2Error && (err.code === V2_TEST_FAILED || err.code === V2_KEY_NOT_FOUND)) return null;
      throw err;
    }
  }

  async updateReservation(subnet: Ipv4Net, attrs: LeaseAttrs): Promise<Lease> {
    return this.renewLease({ subnet, attrs, etcdLeaseId: '0', revision: '0', expiration: null }, attrs, 0);
  }

  /** v2 keys have no IPv6 half: the IPv4 key is exactly the one created. */
  async withdrawCreated(lease: Lease): Promise<void> {
    await this.deleteLease(lease.subnet);
  }

  async deleteLease(subnet: Ipv4Net): Promise<void> {
    const key = this.keyOf(subnet);
    try {
      await this.client.delete(key);
    } catch (err) {
      if (!(err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND)) throw err;
    }
    this.lastValues.delete(key);
  }

  /**
   * Long-polls from `fromRevision` (an etcd index), one event per answer. etcd keeps only the last 1000 events: an
   * older index gets `401 event index cleared`, reported as 'canceled' so the caller re-lists, as after a v3 compaction.
   */
  watchLeases(fromRevision: string, handlers: RegistryWatchHandlers, only?: Ipv4Net): RegistryWatch {
    return this.longPoll(only ? this.keyOf(only) : this.subnetsPrefix, Number(fromRevision), !only, handlers, (res) => {
      if (res.node.dir && REMOVAL_ACTIONS.has(res.action)) {
        // The whole directory went (etcdctl rm -r): its keys got no events of their own; only a list tells.
        handlers.broken('canceled', new Error(`${res.action} of the directory ${res.node.key}`));
        return false;
      }
      const ev = this.toEvent(res);
      handlers.events(ev ? [ev] : [], String(res.node.modifiedIndex));
      return true;
    });
  }

  /**
   * Asks etcd for the next change of `key` from index `from` on, again and again; `onAnswer` takes each change and
   * says whether to go on. A poll that etcd ends without a change is asked again from the same index; `401 event
   * index cleared` (etcd keeps only the last 1000 events) is 'canceled', any other failure 'disconnected'.
   */
  private longPoll(key: string, from: number, recursive: boolean,
    handlers: Pick<RegistryWatchHandlers, 'broken' | 'connected'>, onAnswer: (res: V2Response) => boolean): RegistryWatch {
    let stopped = false;
    let handle: V2WaitHandle | null = null;
    let next = from;
    let announced = false;
    const onAccepted = (): void => {
      if (announced || stopped) return;
      announced = true;
      handlers.connected?.();
    };
    const loop = async (): Promise<void> => {
      while (!stopped) {
        handle = this.client.wait(key, next, { recursive, onAccepted });
        let res: V2Response | null;
        try {
          res = await handle.result;
        } catch (err) {
          if (stopped) return;
          const cleared = err instanceof EtcdV2Error && err.code === V2_EVENT_INDEX_CLEARED;
          handlers.broken(cleared ? 'canceled' : 'disconnected', err as Error);
          return;
        }
        if (stopped) return;
        if (res === null) continue;
        next = res.node.modifiedIndex + 1;
        if (!onAnswer(res)) return;
      }
    };
    void loop();
    return {
      stop: async () => {
        stopped = true;
        handle?.abort();
      },
    };
  }

  private toEvent(res: V2Response): RegistryEvent | null {
    const node = res.node;
    if (node.dir) return null;
    if (REMOVAL_ACTIONS.has(res.action)) {
      const subnet = this.entries.subnetOf(node.key);
      this.lastValues.delete(node.key);
      return subnet ? { type: 'delete', subnet, revision: String(node.modifiedIndex) } : null;
    }
    const lease = this.toLease(node);
    return lease ? { type: 'put', lease } : null;
  }

  private toLease(node: V2Node): Lease | null {
    const entry = this.entries.parse(node.key, node.value ?? '');
    if (!entry) return null;
    this.lastValues.set(node.key, node.value ?? '');
    return this.leaseOf(node, entry.subnet, entry.attrs);
  }

  private written(res: V2Response, subnet: Ipv4Net, attrs: LeaseAttrs): Lease {
    this.lastValues.set(res.node.key, res.node.value ?? '');
    return this.leaseOf(res.node, subnet, attrs);
  }

  private leaseOf(node: V2Node, subnet: Ipv4Net, attrs: LeaseAttrs): Lease {
    const expiration = node.expiration ? new Date(node.expiration) : null;
    return { subnet, attrs, expiration, etcdLeaseId: expiration ? String(node.modifiedIndex) : '0', revision: String(node.modifiedIndex) };
  }
}
