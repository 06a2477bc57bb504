// The encap loop's view of the peers: subnet → {PublicIP, VtepMAC}, indexed by the destination's subnet number
// within the Network (O(1), no allocation per lookup), plus the set of peer PublicIPs that receive accepts frames
// from. Each loop thread keeps its own copy, changed between batches by PeerUpdate messages.
import type { Ipv4Net } from '../net/ipv4.js';

/** More subnets than this (e.g. a /8 Network carved into /30s) would cost too much memory for a flat index. */
export const MAX_SUBNET_SLOTS = 1 << 20;

export type PeerUpdate =
  | { readonly op: 'set'; readonly subnetIP: number; readonly publicIP: number; readonly mac: readonly number[] }
  | { readonly op: 'delete'; readonly subnetIP: number }
  | { readonly op: 'clear' };

export class PeerTable {
  readonly networkIP: number;
  readonly networkMask: number;
  readonly subnetShift: number;
  /** PublicIP of the peer owning subnet slot i (valid when present[i] is 1). */
  readonly publicIPs: Uint32Array;
  /** VtepMAC of slot i at bytes [6i, 6i+6). */
  readonly macs: Uint8Array;
  readonly present: Uint8Array;
  private readonly sources = new Map<number, number>();

  constructor(network: Ipv4Net, subnetLen: number) {
    if (subnetLen < network.prefixLen || subnetLen > 32) {
      throw new Error(`invalid SubnetLen ${subnetLen} for Network /${network.prefixLen}: it must lie in ${network.prefixLen}..32`);
    }
    const slots = 2 ** (subnetLen - network.prefixLen);
    if (slots > MAX_SUBNET_SLOTS) {
      throw new Error(`Network /${network.prefixLen} with SubnetLen ${subnetLen} has ${slots} subnets; the userspace datapath supports up to ${MAX_SUBNET_SLOTS}: use a larger SubnetLen gap of at most 20 bits or --vxlan-datapath kernel`);
    }
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

  isKnownSource(publicIP: number): boolean {
    return this.sources.has(publicIP);
  }

  set(subnetIP: number, publicIP: number, mac: ArrayLike<number>): void {
    const slot = this.slotOf(subnetIP);
    if (slot < 0) return;
    if (this.present[slot] === 1) this.release(this.publicIPs[slot]!);
    this.present[slot] = 1;
    this.publicIPs[slot] = publicIP >>> 0;
    for (let i = 0; i < 6; i++) this.macs[slot * 6 + i] = mac[i]!;
    this.sources.set(publicIP >>> 0, (this.sources.get(publicIP >>> 0) ?? 0) + 1);
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

  apply(update: PeerUpdate): void {
    if (update.op === 'set') this.set(update.subnetIP, update.publicIP, update.mac);
    else if (update.op === 'delete') this.delete(update.subnetIP);
    else this.clear();
  }

  private release(publicIP: number): void {
    const n = (this.sources.get(publicIP) ?? 0) - 1;
    if (n > 0) this.sources.set(publicIP, n);
    else this.sources.delete(publicIP);
  }
}
