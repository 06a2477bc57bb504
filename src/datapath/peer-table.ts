// A loop's view of the peers: subnet → {PublicIP, VtepMAC}, indexed by the subnet number within the Network (O(1),
// no allocation per lookup), the set of peer PublicIPs that receive accepts frames from, and our own subnet (the only
// inner destination receive delivers). Each loop thread keeps its own table, changed between batches by PeerTableOp
// messages; the main thread keeps only the replay log of those ops (peer-log.ts) to feed new and restarted loops.
import type { Ipv4Net } from '../net/ipv4.js';

/** More subnets than this (e.g. a /8 Network carved into /30s) would cost too much memory for a flat index. */
export const MAX_SUBNET_SLOTS = 1 << 20;

/** A change to a loop's peer table, as posted to the loop threads (structured-clone friendly). */
export type PeerTableOp =
  | { readonly op: 'set'; readonly subnetIP: number; readonly publicIP: number; readonly mac: readonly number[] }
  | { readonly op: 'delete'; readonly subnetIP: number }
  /** Removes every peer; our own subnet stays. */
  | { readonly op: 'clear' }
  | { readonly op: 'own'; readonly subnetIP: number; readonly prefixLen: number };

/** Why receive refuses an inner packet (0: it does not). Numbers, so the per-packet check allocates nothing. */
export const INNER_OK = 0;
/** The inner source is not in a subnet leased by the peer whose PublicIP sent the frame. */
export const INNER_FOREIGN_SOURCE = 1;
/** The inner destination is not in our own subnet (or our own subnet is not known yet). */
export const INNER_FOREIGN_DESTINATION = 2;

/**
 * The number of subnet slots a table of this Network needs; throws a one-line error naming the fix when the
 * userspace datapath cannot serve it. The main thread calls it too, so the daemon refuses such a config at start
 * rather than in every loop thread.
 */
export function subnetSlots(network: Ipv4Net, subnetLen: number): number {
  if (subnetLen < network.prefixLen || subnetLen > 32) {
    throw new Error(`invalid SubnetLen ${subnetLen} for Network /${network.prefixLen}: it must lie in ${network.prefixLen}..32`);
  }
  const slots = 2 ** (subnetLen - network.prefixLen);
  if (slots > MAX_SUBNET_SLOTS) {
    throw new Error(`Network /${network.prefixLen} with SubnetLen ${subnetLen} has ${slots} subnets; the userspace datapath supports up to ${MAX_SUBNET_SLOTS}: use a larger SubnetLen gap of at most 20 bits or --vxlan-datapath kernel`);
  }
  return slots;
}

export class PeerTable {
  readonly networkIP: number;
  readonly networkMask: number;
  readonly subnetShift: number;
  /** PublicIP of the peer owning subnet slot i (valid when present[i] is 1). */
  readonly publicIPs: Uint32Array;
  /** VtepMAC of slot i at bytes [6i, 6i+6). */
  readonly macs: Uint8Array;
  readonly present: Uint8Array;
  /** PublicIP → subnets it leases, keyed by the int32 form: a small integer, so a lookup allocates nothing. */
  private readonly sources = new Map<number, number>();
  /** Our own subnet: network address and mask (host order); ownMask 0 with hasOwn false until the lease is known. */
  private ownIP = 0;
  private ownMask = 0;
  private hasOwn = false;

  constructor(network: Ipv4Net, subnetLen: number) {
    const slots = subnetSlots(network, subnetLen);
    this.networkIP = network.ip >>> 0;
    this.networkMask = network.prefixLen === 0 ? 0 : (0xffffffff << (32 - network.prefixLen)) >>> 0;
    this.subnetShift = 32 - subnetLen;
    this.publicIPs = new Uint32Array(slots);
    this.macs = new Uint8Array(slots * 6);
    this.present = new Uint8Array(slots);
  }

  /** Slot of the subnet holding `ip`, or -1 when `ip` is outside the Network. */
  slotOf(ip: number): number {
    if (((ip & this.networkMask) >>> 0) !== this.networkIP) return -1;
    // subnetShift may be 32 (SubnetLen 0 is rejected above only when prefixLen > 0), so avoid a shift by 32.
    return this.subnetShift >= 32 ? 0 : ((ip - this.networkIP) >>> 0) >>> this.subnetShift;
  }

  /** Slot of the peer for destination `ip`, or -1 when no peer owns it. */
  lookup(ip: number): number {
    const slot = this.slotOf(ip);
    return slot >= 0 && this.present[slot] === 1 ? slot : -1;
  }

  /** Network address of the subnet (of SubnetLen) holding `ip`. */
  subnetAddressOf(ip: number): number {
    return this.subnetShift >= 32 ? 0 : ((ip >>> this.subnetShift) << this.subnetShift) >>> 0;
  }

  /** `publicIP` as a uint32 or as an int32 of the same bits (the receive loop passes int32s: wire.ts readI32). */
  isKnownSource(publicIP: number): boolean {
    return this.sources.has(publicIP | 0);
  }

  /** Our lease: receive delivers only inner packets addressed into it. */
  setOwnSubnet(subnetIP: number, prefixLen: number): void {
    this.ownMask = prefixLen <= 0 ? 0 : (0xffffffff << (32 - Math.min(32, prefixLen))) >>> 0;
    this.ownIP = (subnetIP & this.ownMask) >>> 0;
    this.hasOwn = true;
  }

  /**
   * The anti-injection rule for a received inner packet from outer source `publicIP` (all host order, each a uint32
   * or the int32 of the same bits): the destination must lie in our own subnet, and, unless `anySource`, the source
   * must lie in a subnet that this very PublicIP leases (which covers the peer's flannel.<VNI> address: its subnet's
   * network address).
   */
  checkInner(publicIP: number, innerSrc: number, innerDst: number, anySource: boolean): number {
    if (!this.hasOwn || ((innerDst & this.ownMask) >>> 0) !== this.ownIP) return INNER_FOREIGN_DESTINATION;
    if (anySource) return INNER_OK;
    const slot = this.lookup(innerSrc);
    return slot >= 0 && this.publicIPs[slot] === publicIP >>> 0 ? INNER_OK : INNER_FOREIGN_SOURCE;
  }

  set(subnetIP: number, publicIP: number, mac: ArrayLike<number>): void {
    const slot = this.slotOf(subnetIP);
    if (slot < 0) return;
    if (this.present[slot] === 1) this.release(this.publicIPs[slot]!);
    this.present[slot] = 1;
    this.publicIPs[slot] = publicIP >>> 0;
    for (let i = 0; i < 6; i++) this.macs[slot * 6 + i] = mac[i]!;
    this.sources.set(publicIP | 0, (this.sources.get(publicIP | 0) ?? 0) + 1);
  }

  delete(subnetIP: number): void {
    const slot = this.slotOf(subnetIP);
    if (slot < 0 || this.present[slot] !== 1) return;
    this.present[slot] = 0;
    this.release(this.publicIPs[slot]!);
  }

  clear(): void {
    this.present.fill(0);
    this.sources.clear();
  }

  get size(): number {
    let n = 0;
    for (const p of this.present) n += p;
    return n;
  }

  apply(op: PeerTableOp): void {
    if (op.op === 'set') this.set(op.subnetIP, op.publicIP, op.mac);
    else if (op.op === 'delete') this.delete(op.subnetIP);
    else if (op.op === 'own') this.setOwnSubnet(op.subnetIP, op.prefixLen);
    else this.clear();
  }

  private release(publicIP: number): void {
    const n = (this.sources.get(publicIP | 0) ?? 0) - 1;
    if (n > 0) this.sources.set(publicIP | 0, n);
    else this.sources.delete(publicIP | 0);
  }
}
