// The IPv6 half's view of the peers: IPv6 subnet → {PublicIPv6, VtepMAC}, the set of PublicIPv6 that receive
// accepts frames from, and our own IPv6 subnet. Keys are the subnet's upper 64 bits as two uint32 words read straight
// from the packet, so a lookup is two reads, a mask and an open-addressed probe: no bigint, no allocation. Hence the
// limit IPv6SubnetLen ≤ 64 (upstream's default is 64; longer ones are refused with a one-line error). The tables are
// rebuilt on every change, which the control plane does between batches, never per packet.
import type { Ipv6Net } from '../net/ipv6.js';
import { INNER_FOREIGN_DESTINATION, INNER_FOREIGN_SOURCE, INNER_OK } from './peer-table.js';
import { readI32, writeU32 } from './wire.js';

export const IPV6_HEADER_LEN = 40;
/** The datapath's limit on IPv6SubnetLen: a subnet must be told apart by its upper 64 bits. */
export const MAX_USERSPACE_IPV6_SUBNET_LEN = 64;

/** A change to a loop's IPv6 peer table; subnets as [hi, lo] words, addresses as 4 words (structured-clone friendly). */
export type PeerTable6Op =
  | { readonly op: 'set'; readonly subnet: readonly number[]; readonly publicIP: readonly number[]; readonly mac: readonly number[] }
  | { readonly op: 'delete'; readonly subnet: readonly number[] }
  | { readonly op: 'own'; readonly subnet: readonly number[]; readonly prefixLen: number };

/** The four host-order uint32 words of an IPv6 address (word 0 the most significant). */
export function ip6Words(ip: bigint): number[] {
  return [96n, 64n, 32n, 0n].map((s) => Number((ip >> s) & 0xffffffffn));
}

/** Throws a one-line error naming the fix when the userspace datapath cannot serve this IPv6SubnetLen. */
export function checkIPv6SubnetLen(network: Ipv6Net, subnetLen: number): void {
  if (subnetLen > MAX_USERSPACE_IPV6_SUBNET_LEN || subnetLen < network.prefixLen) {
    throw new Error(`IPv6SubnetLen ${subnetLen} is not supported by the userspace vxlan datapath (it needs `
      + `${network.prefixLen}..${MAX_USERSPACE_IPV6_SUBNET_LEN}): set IPv6SubnetLen to 64 or run --vxlan-datapath kernel`);
  }
}

/** Length of a well-formed IPv6 packet at buf[off, off+avail) (40 + payload length ≤ avail), else 0. */
export function ipv6PacketLength(buf: Uint8Array, off: number, avail: number): number {
  if (avail < IPV6_HEADER_LEN || (buf[off]! >> 4) !== 6) return 0;
  const total = IPV6_HEADER_LEN + ((buf[off + 4]! << 8) | buf[off + 5]!);
  return total > avail ? 0 : total;
}

const maskHiOf = (len: number): number => (len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0);
const maskLoOf = (len: number): number => maskHiOf(len - 32);

function hash2(hi: number, lo: number, bits: number): number {
  const h = Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b);
  return (h ^ (h >>> 16)) >>> (32 - bits);
}

function hash4(w: ArrayLike<number>, at: number, bits: number): number {
  return hash2(w[at]! ^ Math.imul(w[at + 2]!, 0x27d4eb2d), w[at + 1]! ^ w[at + 3]!, bits);
}

interface Entry { hi: number; lo: number; publicIP: readonly number[]; mac: readonly number[] }

export class PeerTable6 {
  private readonly maskHi: number;
  private readonly maskLo: number;
  private bits = 4;
  /** Slot i: subnet key words at [2i, 2i+2), PublicIPv6 at [4i, 4i+4), VtepMAC at [6i, 6i+6); used[i] 1 when taken. */
  keys = new Uint32Array(2 << 4);
  publicIPs = new Uint32Array(4 << 4);
  macs = new Uint8Array(6 << 4);
  private used = new Uint8Array(1 << 4);
  /** Known PublicIPv6 addresses, 4 words per slot. */
  private sourceBits = 4;
  private sources = new Uint32Array(4 << 4);
  private sourceUsed = new Uint8Array(1 << 4);
  private readonly entries = new Map<string, Entry>();
  private ownHi = 0;
  private ownLo = 0;
  private ownMaskHi = 0;
  private ownMaskLo = 0;
  private hasOwn = false;

  constructor(network: Ipv6Net, readonly subnetLen: number) {
    checkIPv6SubnetLen(network, subnetLen);
    this.maskHi = maskHiOf(subnetLen);
    this.maskLo = maskLoOf(subnetLen);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Slot of the peer whose subnet holds the address at buf[off, off+16), or -1. */
  lookup(buf: Uint8Array, off: number): number {
    // int32s of the key's bits (wire.ts readI32): they cross hash2, where uint32s above 2^31 would be heap numbers.
    const hi = readI32(buf, off) & this.maskHi;
    const lo = readI32(buf, off + 4) & this.maskLo;
    const mask = (1 << this.bits) - 1;
    for (let i = hash2(hi, lo, this.bits); ; i = (i + 1) & mask) {
      if (this.used[i] === 0) return -1;
      if ((this.keys[2 * i]! | 0) === hi && (this.keys[2 * i + 1]! | 0) === lo) return i;
    }
  }

  /** Writes at out[outOff] the 16-byte network address of the subnet (of subnetLen) holding the address at buf[off]. */
  subnetAddressOf(buf: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
    writeU32(out, outOff, readI32(buf, off) & this.maskHi);
    writeU32(out, outOff + 4, readI32(buf, off + 4) & this.maskLo);
    out.fill(0, outOff + 8, outOff + 16);
  }

  /** True when words[at, at+4) is a peer's PublicIPv6. */
  isKnownSource(words: Uint32Array, at: number): boolean {
    const mask = (1 << this.sourceBits) - 1;
    for (let i = hash4(words, at, this.sourceBits); ; i = (i + 1) & mask) {
      if (this.sourceUsed[i] === 0) return false;
      if (this.sameSource(i, words, at)) return true;
    }
  }

  /**
   * The anti-injection rule (see PeerTable.checkInner) for the IPv6 packet at `ip` from the outer source
   * words[at, at+4): destination in our subnet, source in a subnet this very PublicIPv6 leases unless `anySource`.
   */
  checkInner(words: Uint32Array, at: number, buf: Uint8Array, ip: number, anySource: boolean): number {
    if (!this.hasOwn || ((readI32(buf, ip + 24) & this.ownMaskHi) >>> 0) !== this.ownHi
      || ((readI32(buf, ip + 28) & this.ownMaskLo) >>> 0) !== this.ownLo) return INNER_FOREIGN_DESTINATION;
    if (anySource) return INNER_OK;
    const slot = this.lookup(buf, ip + 8);
    if (slot < 0) return INNER_FOREIGN_SOURCE;
    const p = this.publicIPs;
    return p[4 * slot] === words[at] && p[4 * slot + 1] === words[at + 1] && p[4 * slot + 2] === words[at + 2]
      && p[4 * slot + 3] === words[at + 3] ? INNER_OK : INNER_FOREIGN_SOURCE;
  }

  apply(op: PeerTable6Op): void {
    if (op.op === 'own') {
      this.ownMaskHi = maskHiOf(op.prefixLen);
      this.ownMaskLo = maskLoOf(op.prefixLen);
      this.ownHi = (op.subnet[0]! & this.ownMaskHi) >>> 0;
      this.ownLo = (op.subnet[1]! & this.ownMaskLo) >>> 0;
      this.hasOwn = true;
      return;
    }
    const hi = (op.subnet[0]! & this.maskHi) >>> 0;
    const lo = (op.subnet[1]! & this.maskLo) >>> 0;
    if (op.op === 'set') this.entries.set(`${hi}:${lo}`, { hi, lo, publicIP: op.publicIP, mac: op.mac });
    else this.entries.delete(`${hi}:${lo}`);
    this.rebuild();
  }

  private sameSource(i: number, words: ArrayLike<number>, at: number): boolean {
    const s = this.sources;
    return s[4 * i] === words[at] && s[4 * i + 1] === words[at + 1] && s[4 * i + 2] === words[at + 2]
      && s[4 * i + 3] === words[at + 3];
  }

  /** New tables at most half full, filled from the entries. */
  private rebuild(): void {
    this.bits = 4;
    while ((1 << this.bits) < 2 * this.entries.size) this.bits++;
    const cap = 1 << this.bits;
    this.keys = new Uint32Array(2 * cap);
    this.publicIPs = new Uint32Array(4 * cap);
    this.macs = new Uint8Array(6 * cap);
    this.used = new Uint8Array(cap);
    this.sourceBits = this.bits;
    this.sources = new Uint32Array(4 * cap);
    this.sourceUsed = new Uint8Array(cap);
    for (const e of this.entries.values()) {
      let i = hash2(e.hi, e.lo, this.bits);
      while (this.used[i] === 1) i = (i + 1) & (cap - 1);
      this.used[i] = 1;
      this.keys[2 * i] = e.hi;
      this.keys[2 * i + 1] = e.lo;
      for (let k = 0; k < 4; k++) this.publicIPs[4 * i + k] = e.publicIP[k]! >>> 0;
      for (let k = 0; k < 6; k++) this.macs[6 * i + k] = e.mac[k]!;
      let s = hash4(e.publicIP, 0, this.sourceBits);
      while (this.sourceUsed[s] === 1 && !this.sameSource(s, e.publicIP, 0)) s = (s + 1) & (cap - 1);
      this.sourceUsed[s] = 1;
      for (let k = 0; k < 4; k++) this.sources[4 * s + k] = e.publicIP[k]! >>> 0;
    }
  }
}
