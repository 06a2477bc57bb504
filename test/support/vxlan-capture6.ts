// Decoding of captured frames for the IPv6 tunnel-GSO checks (vxlan-capture.ts is the IPv4 one): VXLAN frames over
// an IPv6 underlay as the kernel put them on the wire, and the grouping of those frames under the TUN read they were
// cut from. IPv6 has no IP id to number segments by, so a TCP read's segments are found by sequence number; any
// other read is one datagram, found by its bytes.
import { formatIPv6, ip6FromBuffer } from '../../src/net/ipv6.js';
import { checksum6Valid } from './datapath-packets6.js';
import type { CaptureCase, CaptureFixture } from './vxlan-capture.js';

const ETH = 14;
const IP6 = 40;
const UDP = 8;
const PREFIX = 8 + 14;
/** Outer IPv6 + UDP + VXLAN + inner Ethernet: what each datagram adds on the underlay beyond its inner packet. */
export const WIRE6_OVERHEAD = IP6 + UDP + PREFIX;
export const NH_TCP = 6;
export const NH_UDP = 17;
export const NH_ICMPV6 = 58;

/** One VXLAN frame over IPv6 off the wire, split into its layers. */
export interface WireVxlan6 {
  readonly frame: Uint8Array;
  readonly srcIP: string;
  readonly dstIP: string;
  readonly hopLimit: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly udpLength: number;
  readonly udpChecksum: number;
  /** The outer UDP checksum verifies over the RFC 8200 pseudo-header (and is not 0, which IPv6 forbids). */
  readonly udpChecksumOk: boolean;
  readonly vxlanFlags: number;
  readonly vni: number;
  /** The inner Ethernet header (dst, src, type). */
  readonly innerEth: Uint8Array;
  /** The inner IPv6 packet. */
  readonly inner: Uint8Array;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
const addr = (b: Uint8Array, o: number): string => formatIPv6(ip6FromBuffer(b, o));

/** An Ethernet/IPv6/UDP frame to `port` carrying VXLAN and inner IPv6 (no extension headers), or null. */
export function decodeWireVxlan6(frame: Uint8Array, port = 8472): WireVxlan6 | null {
  if (frame.length < ETH + WIRE6_OVERHEAD + IP6 || u16(frame, 12) !== 0x86dd) return null;
  const ip = frame.subarray(ETH);
  if (ip[0]! >> 4 !== 6 || ip[6] !== NH_UDP || u16(ip, IP6 + 2) !== port) return null;
  const vx = IP6 + UDP;
  const innerEth = ip.subarray(vx + 8, vx + PREFIX);
  if (u16(innerEth, 12) !== 0x86dd) return null;
  return {
    frame, srcIP: addr(ip, 8), dstIP: addr(ip, 24), hopLimit: ip[7]!, flowLabel: u32(ip, 0) & 0xfffff,
    payloadLength: u16(ip, 4), srcPort: u16(ip, IP6), dstPort: u16(ip, IP6 + 2), udpLength: u16(ip, IP6 + 4),
    udpChecksum: u16(ip, IP6 + 6), udpChecksumOk: u16(ip, IP6 + 6) !== 0 && checksum6Valid(ip),
    vxlanFlags: ip[vx]!, vni: (ip[vx + 4]! << 16) | (ip[vx + 5]! << 8) | ip[vx + 6]!, innerEth, inner: ip.subarray(vx + PREFIX),
  };
}

/** Source address of an IPv6 packet. */
export const srcOf6 = (p: Uint8Array): string => addr(p, 8);

/** Protocol, addresses and ports: what ties segments to the packet they were cut from. */
export function flowKey6(p: Uint8Array): string {
  const ports = p[6] === NH_TCP || p[6] === NH_UDP ? ` ${u16(p, IP6)}>${u16(p, IP6 + 2)}` : '';
  return `${p[6]} ${addr(p, 8)}>${addr(p, 24)}${ports}`;
}

/** Inner headers of an IPv6 packet without extension headers: IPv6 + TCP (its data offset) or UDP. */
export function headers6(p: Uint8Array): number {
  return IP6 + (p[6] === NH_TCP ? (p[IP6 + 12]! >> 4) * 4 : p[6] === NH_UDP ? UDP : 0);
}

export const tcp6Seq = (p: Uint8Array): number => u32(p, IP6 + 4);
export const tcp6Ack = (p: Uint8Array): number => u32(p, IP6 + 8);
export const tcp6Flags = (p: Uint8Array): number => p[IP6 + 13]!;
export const payload6Length = (p: Uint8Array): number => p.length - headers6(p);

/** The read's bytes with its L4 checksum field zeroed (a partial seed on the TUN, the full sum on the wire). */
function withoutL4Checksum(p: Uint8Array): string {
  const q = Buffer.from(p);
  const at = p[6] === NH_TCP ? IP6 + 16 : p[6] === NH_UDP ? IP6 + 6 : IP6 + 2;
  q.fill(0, at, at + 2);
  return q.toString('hex');
}

/**
 * Pairs each packet the TUN queued (`tun`, in order) with the wire frames cut from it: for TCP, the frames of its
 * flow whose sequence numbers run from the read's on (the first one also with its ACK number) until its payload is
 * covered; otherwise the one frame of its flow with the same bytes but for the L4 checksum. Returns only the reads
 * for which every segment was found; `wire` is consumed in order.
 */
export function pairSegments6(tun: readonly Uint8Array[], wire: readonly WireVxlan6[]):
  { tun: Uint8Array; wire: WireVxlan6[] }[] {
  const used = new Set<number>();
  const out: { tun: Uint8Array; wire: WireVxlan6[] }[] = [];
  for (const t of tun) {
    const key = flowKey6(t);
    const tcp = t[6] === NH_TCP;
    const total = tcp ? payload6Length(t) : 0;
    const segs: WireVxlan6[] = [];
    const taken: number[] = [];
    let carried = 0;
    for (let i = 0; i < wire.length; i++) {
      const w = wire[i]!;
      if (used.has(i) || flowKey6(w.inner) !== key) continue;
      if (tcp) {
        // A pure ACK and the data after it share sequence and ACK numbers (and may leave in either order): the
        // segment must also fit in what is left of the read.
        const len = payload6Length(w.inner);
        if (tcp6Seq(w.inner) !== ((tcp6Seq(t) + carried) >>> 0) || carried + len > total) continue;
        if (segs.length === 0 && (tcp6Ack(w.inner) !== tcp6Ack(t) || (len === 0) !== (total === 0))) continue;
        carried += len;
      } else if (withoutL4Checksum(w.inner) !== withoutL4Checksum(t)) continue;
      segs.push(w);
      taken.push(i);
      if (carried === total) break;
    }
    if (segs.length > 0 && carried === total) {
      for (const i of taken) used.add(i);
      out.push({ tun: t, wire: segs });
    }
  }
  return out;
}

/** The IPv6 capture fixture: the IPv4 one's cases plus what the unit test needs to build the same frames. */
export interface CaptureFixture6 extends CaptureFixture {
  readonly cases: readonly CaptureCase[];
  /** The cluster's IPv6 network (the peer table's range) and the sender's underlay MTU. */
  readonly network: string;
  readonly outerMtu: number;
}
