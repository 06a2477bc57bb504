// The IPv6 tunnel-GSO frames in unit tests: the TAP writes Encap6Batch makes of one TUN read (src/datapath, the code
// under test) and a model of what the kernel makes of each write before the wire, written from the virtio header's
// meaning and checked byte for byte against the kernel's own output (test/fixtures/tunnel-gso6-capture.json):
//   - GSO TCPV6 | UDP_TUNNEL_IPV6: the inner TCP payload cut at gso_size; per segment the outer IPv6 and UDP lengths,
//     the inner payload length, sequence number, flags (FIN/PSH on the last only, CWR on the first only) and TCP
//     checksum; the outer UDP checksum completed per segment from its seed (UDP_TUNNEL_CSUM);
//   - anything else: the one partial checksum the header names (the outer UDP one) completed.
import { COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { Encap6Batch } from '../../src/datapath/encap6.js';
import { PeerTable6, ip6Words } from '../../src/datapath/peer-table6.js';
import { INNER6_IP_OFFSET, OUTER6_UDP_OFFSET, TUNNEL6_ROOM } from '../../src/datapath/tunnel-frame6.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { ip6ToBuffer, type Ipv6Net } from '../../src/net/ipv6.js';
import { concat, naiveChecksum, TCP_FIN, TCP_PSH } from './datapath-packets.js';

export type Vnet = [number, number, number, number, number, number];

/** Both ends of one tunnel: what Encap6Batch needs to build the frames of one peer. */
export interface Tunnel6Setup {
  readonly network: Ipv6Net;
  /** Our /64 and the peer's, as addresses. */
  readonly ownSubnet: bigint;
  readonly peerSubnet: bigint;
  readonly local: bigint;
  readonly peerPublic: bigint;
  readonly ownMac: Uint8Array;
  readonly peerMac: Uint8Array;
  readonly tapMac: Uint8Array;
  readonly port: number;
  readonly vni: number;
  readonly outerMtu: number;
}

const TCP_CWR = 0x80;
const TUNNEL_VNET_LEN = 24;
const SLOT = 65536 + 64 + TUNNEL6_ROOM;

/** Encap6Batch with a tunnel TAP, run on one TUN read (`packet` behind the virtio header `vnet`). */
export function tapFrames6(packet: Uint8Array, vnet: Vnet, s: Tunnel6Setup) {
  const outEnd = SLOT + SLOT + 128 * 128;
  const slab = new Uint8Array(outEnd);
  const batch = new Encap6Batch(slab, SLOT, SLOT, outEnd, 256,
    { tapMac: s.tapMac, srcMac: s.ownMac, localIP6: Uint8Array.from(ip6ToBuffer(s.local)), port: s.port });
  writeVnetHdr(slab, batch.readHeadroom, ...vnet);
  slab.set(packet, batch.readHeadroom + 10);
  const peers = new PeerTable6(s.network, 64);
  peers.apply({ op: 'own', subnet: ip6Words(s.ownSubnet).slice(0, 2), prefixLen: 64 });
  peers.apply({ op: 'set', subnet: ip6Words(s.peerSubnet).slice(0, 2), publicIP: ip6Words(s.peerPublic), mac: [...s.peerMac] });
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  batch.encapsulate({ vni: s.vni, ownMac: s.ownMac, sendFds: Int32Array.of(7), outerMtu: s.outerMtu }, peers,
    Int32Array.of(packet.length + 10), 1, counters);
  const frames = Array.from({ length: batch.tapCount },
    (_, i) => slab.slice(batch.tapOffsets[i]!, batch.tapOffsets[i]! + batch.tapLengths[i]!));
  return { batch, counters, frames };
}

const u16le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
};

export const fold16 = (s: number): number => {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
};

/** The unfolded one's-complement sum of `b` as big-endian 16-bit words (an odd last byte padded). */
export function sumWords16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2) s += b[b.length - 1]! << 8;
  return s;
}

/** Completes the partial checksum whose seed sits at `at`, summed from `from` to the end (the kernel's csum help). */
function complete(b: Uint8Array, from: number, at: number): void {
  const c = ~fold16(sumWords16(b.subarray(from))) & 0xffff;
  put16(b, at, c === 0 ? 0xffff : c);
}

/** The TCP checksum of the inner IPv6 packet at `ip` (no extension headers), computed from scratch. */
function innerTcpChecksum(seg: Uint8Array, ip: number): void {
  const pseudo = new Uint8Array(40);
  pseudo.set(seg.subarray(ip + 8, ip + 40), 0);
  new DataView(pseudo.buffer).setUint32(32, seg.length - ip - 40);
  pseudo[39] = 6;
  put16(seg, ip + 56, 0);
  put16(seg, ip + 56, naiveChecksum(concat(pseudo, seg.subarray(ip + 40))));
}

/** What the kernel sends for one TAP write (24-byte virtio tunnel header + Ethernet frame): Ethernet frames. */
export function kernelFrames6(write: Uint8Array): Uint8Array[] {
  const body = write.subarray(TUNNEL_VNET_LEN);
  if ((write[1]! & VNET_HDR_GSO_TCPV6) === 0) {
    const frame = body.slice();
    if ((write[0]! & VNET_HDR_F_NEEDS_CSUM) !== 0) {
      const start = u16le(write, 6);
      complete(frame, start, start + u16le(write, 8));
    }
    return [frame];
  }
  const hdrLen = u16le(write, 2);
  const mss = u16le(write, 4);
  const ip = INNER6_IP_OFFSET;
  const headers = body.subarray(0, hdrLen);
  const payload = body.subarray(hdrLen);
  const totalUdp = u16(body, OUTER6_UDP_OFFSET + 4);
  const seed = u16(body, OUTER6_UDP_OFFSET + 6);
  const seq0 = new DataView(body.buffer, body.byteOffset).getUint32(ip + 44);
  const flags = body[ip + 53]!;
  const out: Uint8Array[] = [];
  for (let off = 0, i = 0; off < payload.length; off += mss, i++) {
    const last = off + mss >= payload.length;
    const seg = concat(headers, payload.subarray(off, Math.min(off + mss, payload.length)));
    const udpLen = seg.length - OUTER6_UDP_OFFSET;
    put16(seg, 18, udpLen);
    put16(seg, OUTER6_UDP_OFFSET + 4, udpLen);
    put16(seg, ip + 4, seg.length - ip - 40);
    new DataView(seg.buffer).setUint32(ip + 44, (seq0 + off) >>> 0);
    seg[ip + 53] = flags & ~(last ? 0 : TCP_FIN | TCP_PSH) & ~(i === 0 ? 0 : TCP_CWR);
    innerTcpChecksum(seg, ip);
    // The seed moved from the whole frame's UDP length to the segment's, then completed over the segment.
    put16(seg, OUTER6_UDP_OFFSET + 6, fold16(seed + (~totalUdp & 0xffff) + udpLen));
    complete(seg, OUTER6_UDP_OFFSET, OUTER6_UDP_OFFSET + 6);
    out.push(seg);
  }
  return out;
}
