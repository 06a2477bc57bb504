// struct virtio_net_hdr (10 bytes, little-endian on the hosts we run on), which precedes every packet on a TUN opened
// with IFF_VNET_HDR: it says whether a packet is a TSO super-packet and whether its checksum still has to be completed.

export const VNET_HDR_LEN = 10;
export const VNET_HDR_F_NEEDS_CSUM = 1;
export const VNET_HDR_GSO_NONE = 0;
export const VNET_HDR_GSO_TCPV4 = 1;
export const VNET_HDR_GSO_TCPV6 = 4;
export const VNET_HDR_GSO_UDP_L4 = 5;
export const VNET_HDR_GSO_ECN = 0x80;

/** TUNSETOFFLOAD flags. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function emptyVnetHdr(): VnetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

const u16le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
export const put16le = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};

/** Reads the header at `off` into `out` (reused: no allocation per packet). */
export function readVnetHdr(buf: Uint8Array, off: number, out: VnetHdr): VnetHdr {
  out.flags = buf[off]!;
  out.gsoType = buf[off + 1]!;
  out.hdrLen = u16le(buf, off + 2);
  out.gsoSize = u16le(buf, off + 4);
  out.csumStart = u16le(buf, off + 6);
  out.csumOffset = u16le(buf, off + 8);
  return out;
}

export function writeVnetHdr(buf: Uint8Array, off: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): void {
  buf[off] = flags;
  buf[off + 1] = gsoType;
  put16le(buf, off + 2, hdrLen);
  put16le(buf, off + 4, gsoSize);
  put16le(buf, off + 6, csumStart);
  put16le(buf, off + 8, csumOffset);
}

/** A plain packet: no GSO, checksum complete. */
export function writePlainVnetHdr(buf: Uint8Array, off: number): void {
  buf.fill(0, off, off + VNET_HDR_LEN);
}

/** gso_type bit of struct virtio_net_hdr_v1_hash_tunnel: the GSO packet is inside a UDP tunnel over IPv4. */
export const VNET_HDR_GSO_UDP_TUNNEL_IPV4 = 0x20;
/** TUNSETOFFLOAD: UDP-tunnel GSO (Linux ≥ 6.17). */
export const TUN_F_UDP_TUNNEL_GSO = 0x80;
/** struct virtio_net_hdr_v1_hash_tunnel: the 10-byte header, num_buffers, the hash fields and two tunnel offsets. */
export const VNET_TUNNEL_HDR_LEN = 24;

/** gso_type bit of the tunnel header: the GSO packet is inside a UDP tunnel over IPv6. */
export const VNET_HDR_GSO_UDP_TUNNEL_IPV6 = 0x40;
/** flags bit of the tunnel header: the kernel fills in the outer UDP checksum of every segment. */
export const VNET_HDR_F_UDP_TUNNEL_CSUM = 0x08;
/** TUNSETOFFLOAD: the outer UDP checksum of tunnel GSO frames (Linux ≥ 6.17); an IPv6 outer header needs it. */
export const TUN_F_UDP_TUNNEL_GSO_CSUM = 0x100;
