// What both registries (v2 and v3) do with a key and value read under `<prefix>/subnets/`: parse it, warn once per
// bad entry, and remember keys spelled otherwise than `A.B.C.D-LEN` so writes go to the key that exists.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Logger } from '../log.js';
import { KeyedRateLimit, truncateForLog } from '../log-values.js';
import type { Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';
import { decodeLeaseAttrs, leaseIdentity, parseLeaseKey, subnetKey, type LeaseKeyParts } from './codec.js';
import type { LeaseAttrs } from './lease.js';

const NOT_A_SUBNET_KEY = 'ignoring a key under subnets/ that is not a subnet key (A.B.C.D-LEN)';

export class LeaseEntries {
  /** Key → value already warned about, so a bad entry is reported once, not at every list. */
  private readonly warned = new Map<string, string>();
  private readonly warnPace = new KeyedRateLimit();
  /**
   * Lease identity (codec's leaseIdentity) → the key it was last listed under, when that is not the identity itself
   * (a dual-stack key written by upstream, `…&v6addr-len`), so renewing or deleting such a lease touches the key that
   * exists.
   */
  private readonly foreignKeys = new Map<string, string>();

  constructor(private readonly subnetsPrefix: string, private readonly log: Logger) {}

  keyOf(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string {
    const plain = leaseIdentity(subnet, ipv6Subnet);
    return this.foreignKeys.get(plain) ?? `${this.subnetsPrefix}/${plain}`;
  }

  /** Before a full list: forget the spellings of the last one. */
  startList(): void {
    this.foreignKeys.clear();
  }

  /** After a full list: drop warnings of keys that are gone, so a key written again is judged again. */
  endList(seen: ReadonlySet<string>): void {
    for (const key of this.warned.keys()) if (!seen.has(key)) this.warned.delete(key);
  }

  /** A new key this host writes: always the plain spelling. */
  forgetForeign(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): void {
    this.foreignKeys.delete(leaseIdentity(subnet, ipv6Subnet));
  }

  /** A new key this host writes, dual-stack when it has an IPv6 subnet; later writes go to the same key. */
  useKey(subnet: Ipv4Net, ipv6Subnet: Ipv6Net | null | undefined): string {
    this.forgetForeign(subnet, ipv6Subnet);
    if (!ipv6Subnet) return this.keyOf(subnet);
    const spelled = subnetKey(subnet, ipv6Subnet);
    const identity = leaseIdentity(subnet, ipv6Subnet);
    if (spelled !== identity) this.foreignKeys.set(identity, `${this.subnetsPrefix}/${spelled}`);
    return `${this.subnetsPrefix}/${spelled}`;
  }

  /** The subnet of a key, or null (warned once) when it is not a subnet key. */
  subnetOf(key: string): Ipv4Net | null {
    return this.partsOf(key)?.subnet ?? null;
  }

  /** Both halves of a key, or null (warned once) when it is not a subnet key. */
  partsOf(key: string): LeaseKeyParts | null {
    const parts = parseLeaseKey(path.posix.basename(key));
    if (!parts) this.warnOnce(key, '', NOT_A_SUBNET_KEY);
    return parts;
  }

  parse(key: string, value: string): { subnet: Ipv4Net; ipv6Subnet: Ipv6Net | null; attrs: LeaseAttrs } | null {
    const base = path.posix.basename(key);
    const parts = parseLeaseKey(base);
    if (!parts) {
      this.warnOnce(key, value, NOT_A_SUBNET_KEY);
      return null;
    }
    const { subnet, ipv6Subnet } = parts;
    const identity = leaseIdentity(subnet, ipv6Subnet);
    if (base !== identity) this.foreignKeys.set(identity, key);
    try {
      const attrs = decodeLeaseAttrs(value);
      this.warned.delete(key);
      return { subnet, ipv6Subnet, attrs };
    } catch (err) {
      this.warnOnce(key, value, `ignoring a lease whose value does not parse: ${(err as Error).message}`);
      return null;
    }
  }

  /** Once per key and value, and at most once per key per interval however often a writer changes the value. */
  private warnOnce(key: string, value: string, msg: string): void {
    // A digest, not the value: a megabyte of garbage per bad key is not worth keeping in memory.
    const seen = value.length > 64 ? createHash('sha256').update(value).digest('base64') : value;
    if (this.warned.get(key) === seen) return;
    this.warned.set(key, seen);
    const held = this.warnPace.take(key);
    if (held === null) return;
    this.log.warn({ key: truncateForLog(key), ...(held > 0 ? { repeated: held } : {}) }, msg);
  }
}
