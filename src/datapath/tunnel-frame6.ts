// The frame of the tunnel-GSO send path for the IPv6 half (flannel-v6.<VNI>), as tunnel-frame.ts is for IPv4: one
// TAP write of the whole VXLAN packet over an IPv6 underlay, a TSO6 frame of up to 64 KiB included, which the kernel
// segments (both levels) or hands whole to an underlay that takes tunnel GSO.
//
//   [0, 24)    virtio_net_hdr_v1_hash_tunnel (little-endian)
//   [24, 38)   outer Ethernet to the TAP's own MAC (the frame is "received" on the TAP and routed to the underlay)
//   [38, 78)   outer IPv6: our address → the peer's PublicIPv6, hop limit 64, payload length = UDP length
//   [78, 86)   outer UDP: flow-hashed source port → the VXLAN port; checksum = the pseudo-header seed
//   [86, 108)  VXLAN + inner Ethernet (wire.ts writeEncapPrefix)
//   [108, …)   the inner IPv6 packet as read from the TUN
// Unlike IPv4 the outer UDP checksum cannot be 0: the kernel's flannel-v6 device neither sends nor accepts a zero
// checksum over IPv6 (RFC 8200). So the kernel computes it: for a TSO6 frame through UDP_TUNNEL_CSUM (per segment,
// from the seed), for a single packet as an ordinary CHECKSUM_PARTIAL over the outer UDP (its inner checksum is
// completed first, in userspace: one partial checksum per packet is all a virtio header can ask for).
// Pure: offsets in, bytes out, nothing allocated.
import { foldSum, sumWords } from './checksum.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_F_UDP_TUNNEL_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP_TUNNEL_IPV6, VNET_TUNNEL_HDR_LEN, put16le, type VnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, IPPROTO_UDP, writeU16, writeU32 } from './wire.js';

const OUTER_IP6_LEN = 40;
const OUTER_UDP_LEN = 8;
/** Outer Ethernet + IPv6 + UDP. */
export const OUTER6_HEADERS_LEN = ETHERNET_HEADER_LEN + OUTER_IP6_LEN + OUTER_UDP_LEN;
/** Bytes in front of the 22-byte encap prefix: the tunnel virtio header and the outer headers. */
export const TUNNEL6_ROOM = VNET_TUNNEL_HDR_LEN + OUTER6_HEADERS_LEN;
/** Offsets from the outer Ethernet header, as the tunnel virtio header counts them. */
export const OUTER6_UDP_OFFSET = ETHERNET_HEADER_LEN + OUTER_IP6_LEN;
export const INNER6_IP_OFFSET = OUTER6_HEADERS_LEN + ENCAP_PREFIX_LEN;
/** The largest inner packet one frame can carry: the outer UDP length (= IPv6 payload length) is 16 bits. */
export const MAX_TUNNEL6_INNER_LEN = 65535 - OUTER_UDP_LEN - ENCAP_PREFIX_LEN;
/** Outer IPv6 + UDP + encap prefix: what each segment adds on the underlay beyond its inner IPv6 packet. */
export const TUNNEL6_OVERHEAD = OUTER_IP6_LEN + OUTER_UDP_LEN + ENCAP_PREFIX_LEN;
const HOP_LIMIT = 64;

/** What every frame of one IPv6 sender shares. */
export interface Tunnel6Config {
  /** The TAP's own MAC: the outer destination, so that the host accepts the frame and routes it. */
  readonly tapMac: Uint8Array;
  /** Outer source MAC (any unicast address; it never leaves the host). */
  readonly srcMac: Uint8Array;
  /** Our IPv6 underlay address as 16 bytes: the outer source. */
  readonly localIP6: Uint8Array;
  /** The VXLAN UDP port (destination). */
  readonly port: number;
}

/**
 * The MSS each segment of a TSO6 frame gets: the TUN's, lowered so that the outer IPv6 datagram of a full segment
 * (inner headers `innerHdrLen` + MSS + TUNNEL6_OVERHEAD) fits the underlay MTU. 0 when nothing fits.
 */
export function tunnel6Mss(gsoSize: number, innerHdrLen: number, outerMtu: number): number {
  return Math.max(0, Math.min(gsoSize, outerMtu - TUNNEL6_OVERHEAD - innerHdrLen));
}

/**
 * Writes the tunnel virtio header at buf[off] for the inner packet the TUN read described by `inner` (offsets
 * relative to the inner IPv6 header). A TSO6 frame becomes GSO_TCPV6 | UDP_TUNNEL_IPV6 with UDP_TUNNEL_CSUM and
 * segments of `mss`; anything else is one packet whose outer UDP checksum the kernel completes (the caller has
 * completed its inner one). Returns false for a GSO type the path does not carry (that packet goes the other way).
 */
export function writeTunnel6VnetHdr(buf: Uint8Array, off: number, inner: VnetHdr, innerHdrLen: number,
  mss: number): boolean {
  const ecn = inner.gsoType & VNET_HDR_GSO_ECN;
  const gso = inner.gsoType & ~VNET_HDR_GSO_ECN;
  const tso = gso === VNET_HDR_GSO_TCPV6 && inner.gsoSize > 0;
  if (!tso && gso !== VNET_HDR_GSO_NONE) return false;
  // Segmentation needs the inner checksum offsets (the TUN always gives them for TSO6) and a segment size.
  if (tso && ((inner.flags & VNET_HDR_F_NEEDS_CSUM) === 0 || mss <= 0 || innerHdrLen <= 0)) return false;
  buf.fill(0, off, off + VNET_TUNNEL_HDR_LEN);
  if (tso) {
    buf[off] = VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_UDP_TUNNEL_CSUM;
    buf[off + 1] = VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_UDP_TUNNEL_IPV6 | ecn;
    put16le(buf, off + 2, INNER6_IP_OFFSET + innerHdrLen);
    put16le(buf, off + 4, mss);
    put16le(buf, off + 6, INNER6_IP_OFFSET + inner.csumStart);
    put16le(buf, off + 8, inner.csumOffset);
    put16le(buf, off + 20, OUTER6_UDP_OFFSET);
    put16le(buf, off + 22, INNER6_IP_OFFSET);
  } else {
    buf[off] = VNET_HDR_F_NEEDS_CSUM;
    put16le(buf, off + 6, OUTER6_UDP_OFFSET);
    put16le(buf, off + 8, 6);
  }
  return true;
}

/**
 * Writes the outer Ethernet, IPv6 and UDP headers at buf[off] (the byte after the virtio header) for a VXLAN
 * payload of `udpPayloadLen` bytes to the peer address at peerIPs[4*peer …] (four host-order words), from UDP port
 * `srcPort`. The UDP checksum field gets the folded pseudo-header sum (the kernel's CHECKSUM_PARTIAL seed).
 */
export function writeOuter6Headers(buf: Uint8Array, off: number, cfg: Tunnel6Config, peerIPs: Uint32Array, peer: number,
  srcPort: number, udpPayloadLen: number): void {
  for (let i = 0; i < 6; i++) buf[off + i] = cfg.tapMac[i]!;
  for (let i = 0; i < 6; i++) buf[off + 6 + i] = cfg.srcMac[i]!;
  buf[off + 12] = ETHERTYPE_IPV6 >> 8;
  buf[off + 13] = ETHERTYPE_IPV6 & 0xff;
  const ip = off + ETHERNET_HEADER_LEN;
  const udpLen = OUTER_UDP_LEN + udpPayloadLen;
  writeU32(buf, ip, 0x60000000);
  writeU16(buf, ip + 4, udpLen);
  buf[ip + 6] = IPPROTO_UDP;
  buf[ip + 7] = HOP_LIMIT;
  for (let i = 0; i < 16; i++) buf[ip + 8 + i] = cfg.localIP6[i]!;
  for (let k = 0; k < 4; k++) writeU32(buf, ip + 24 + 4 * k, peerIPs[4 * peer + k]!);
  const udp = ip + OUTER_IP6_LEN;
  writeU16(buf, udp, srcPort);
  writeU16(buf, udp + 2, cfg.port);
  writeU16(buf, udp + 4, udpLen);
  writeU16(buf, udp + 6, foldSum(sumWords(buf, ip + 8, 32, IPPROTO_UDP + udpLen)));
}
