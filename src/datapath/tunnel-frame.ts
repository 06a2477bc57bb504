// The frame of the tunnel-GSO send path, written to a TAP whose virtio header is the 24-byte tunnel header: the
// whole VXLAN packet as the kernel's own VXLAN device would build it, but for a TSO frame of up to 64 KiB, which the
// kernel then segments (both levels, every checksum) or hands whole to an underlay that takes tunnel GSO.
//
//   [0, 24)   virtio_net_hdr_v1_hash_tunnel (little-endian)
//   [24, 38)  outer Ethernet: to the TAP's own MAC (the frame is "received" on the TAP and routed to the underlay)
//   [38, 58)  outer IPv4: our address → the peer's PublicIP, TTL 64, header checksum complete
//   [58, 66)  outer UDP: flow-hashed source port → the VXLAN port, checksum 0 (as flannel's kernel device sends)
//   [66, 88)  VXLAN + inner Ethernet (wire.ts writeEncapPrefix)
//   [88, …)   the inner IPv4 packet exactly as read from the TUN (its TCP/UDP checksum still the pseudo-header seed
//             when the TUN said NEEDS_CSUM: the kernel completes it)
// Pure: offsets in, bytes out, nothing allocated.
import { writeIPv4HeaderChecksum } from './checksum.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_UDP_TUNNEL_IPV4,
  VNET_TUNNEL_HDR_LEN, put16le, type VnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, IPPROTO_UDP, writeU16, writeU32 } from './wire.js';

const OUTER_IP_LEN = 20;
const OUTER_UDP_LEN = 8;
/** Outer Ethernet + IPv4 + UDP. */
export const OUTER_HEADERS_LEN = ETHERNET_HEADER_LEN + OUTER_IP_LEN + OUTER_UDP_LEN;
/** Bytes in front of the 22-byte encap prefix: the tunnel virtio header and the outer headers. */
export const TUNNEL_ROOM = VNET_TUNNEL_HDR_LEN + OUTER_HEADERS_LEN;
/** Offsets from the outer Ethernet header, as the tunnel virtio header counts them. */
export const OUTER_UDP_OFFSET = ETHERNET_HEADER_LEN + OUTER_IP_LEN;
export const INNER_IP_OFFSET = OUTER_HEADERS_LEN + ENCAP_PREFIX_LEN;
/** The largest inner packet one frame can carry: the outer IPv4 total length is 16 bits. */
export const MAX_TUNNEL_INNER_LEN = 65535 - OUTER_IP_LEN - OUTER_UDP_LEN - ENCAP_PREFIX_LEN;
const OUTER_TTL = 64;

/** What every frame of one sender shares. */
export interface TunnelConfig {
  /** The TAP's own MAC: the outer destination, so that the TAP's host accepts the frame and routes it. */
  readonly tapMac: Uint8Array;
  /** Outer source MAC (any unicast address; it never leaves the host). */
  readonly srcMac: Uint8Array;
  /** Our underlay address (host order): the outer source. */
  readonly localIP: number;
  /** The VXLAN UDP port (destination). */
  readonly port: number;
}

/**
 * Writes the tunnel virtio header for the inner packet described by `inner` (the header the TUN read gave it, its
 * offsets relative to the inner IPv4 header) at buf[off]. A TSO frame becomes GSO_TCPV4 | UDP_TUNNEL_IPV4 with the
 * TUN's MSS; anything else goes as one packet, its checksum left to the kernel when the TUN left it partial.
 * Returns false for a GSO type the path does not carry (the caller sends that packet the other way).
 */
export function writeTunnelVnetHdr(buf: Uint8Array, off: number, inner: VnetHdr, innerHdrLen: number): boolean {
  const ecn = inner.gsoType & VNET_HDR_GSO_ECN;
  const gso = inner.gsoType & ~VNET_HDR_GSO_ECN;
  const tso = gso === VNET_HDR_GSO_TCPV4 && inner.gsoSize > 0;
  if (!tso && gso !== VNET_HDR_GSO_NONE) return false;
  const partial = (inner.flags & VNET_HDR_F_NEEDS_CSUM) !== 0;
  // Segmentation needs the checksum offsets even when the TUN did not ask for them (it always does for TSO).
  if (tso && !partial) return false;
  buf.fill(0, off, off + VNET_TUNNEL_HDR_LEN);
  buf[off] = partial ? VNET_HDR_F_NEEDS_CSUM : 0;
  buf[off + 1] = tso ? VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_UDP_TUNNEL_IPV4 | ecn : VNET_HDR_GSO_NONE;
  put16le(buf, off + 2, tso ? INNER_IP_OFFSET + innerHdrLen : 0);
  put16le(buf, off + 4, tso ? inner.gsoSize : 0);
  if (partial) {
    put16le(buf, off + 6, INNER_IP_OFFSET + inner.csumStart);
    put16le(buf, off + 8, inner.csumOffset);
  }
  if (tso) {
    put16le(buf, off + 20, OUTER_UDP_OFFSET);
    put16le(buf, off + 22, INNER_IP_OFFSET);
  }
  return true;
}

/**
 * Writes the outer Ethernet, IPv4 and UDP headers at buf[off] (the byte after the virtio header) for a VXLAN
 * payload of `udpPayloadLen` bytes to `dstIP`, from UDP port `srcPort`, with IPv4 id `ipId`.
 */
export function writeOuterHeaders(buf: Uint8Array, off: number, cfg: TunnelConfig, dstIP: number, srcPort: number,
  ipId: number, udpPayloadLen: number): void {
  for (let i = 0; i < 6; i++) buf[off + i] = cfg.tapMac[i]!;
  for (let i = 0; i < 6; i++) buf[off + 6 + i] = cfg.srcMac[i]!;
  buf[off + 12] = ETHERTYPE_IPV4 >> 8;
  buf[off + 13] = ETHERTYPE_IPV4 & 0xff;
  const ip = off + ETHERNET_HEADER_LEN;
  const udpLen = OUTER_UDP_LEN + udpPayloadLen;
  buf[ip] = 0x45;
  buf[ip + 1] = 0;
  writeU16(buf, ip + 2, OUTER_IP_LEN + udpLen);
  writeU16(buf, ip + 4, ipId & 0xffff);
  buf[ip + 6] = 0; // no DF, as flannel's kernel VXLAN device sends
  buf[ip + 7] = 0;
  buf[ip + 8] = OUTER_TTL;
  buf[ip + 9] = IPPROTO_UDP;
  writeU32(buf, ip + 12, cfg.localIP);
  writeU32(buf, ip + 16, dstIP);
  writeIPv4HeaderChecksum(buf, ip, OUTER_IP_LEN);
  const udp = ip + OUTER_IP_LEN;
  writeU16(buf, udp, srcPort);
  writeU16(buf, udp + 2, cfg.port);
  writeU16(buf, udp + 4, udpLen);
  buf[udp + 6] = 0;
  buf[udp + 7] = 0;
}

/** The outer source port for an inner flow hash, in the range the kernel's VXLAN device uses (32768–60999). */
export function tunnelSourcePort(flowHash: number): number {
  return 32768 + ((flowHash >>> 0) % 28232);
}
