// Wire-format constants and header helpers of flannel's VXLAN encapsulation (flannel-compat §5): outer UDP payload =
// VXLAN header (flags 0x08, 24-bit VNI) + inner Ethernet (dst = peer VtepMAC, src = own, type 0x0800) + inner IPv4.
// Pure functions over buffers; offsets are byte offsets into the given buffer.

export const VXLAN_HEADER_LEN = 8;
export const ETHERNET_HEADER_LEN = 14;
/** Bytes in front of the inner IPv4 packet inside the UDP payload. */
export const ENCAP_PREFIX_LEN = VXLAN_HEADER_LEN + ETHERNET_HEADER_LEN;
export const ETHERTYPE_IPV4 = 0x0800;
/** The inner Ethernet type of flannel-v6.<VNI> frames. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** The "I" flag: a valid VNI is present. Every other bit of the first 32 bits must be zero (RFC 7348). */
export const VXLAN_FLAG_VNI = 0x08;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const MIN_IPV4_HEADER_LEN = 20;

/** Parses `aa:bb:cc:dd:ee:ff` into 6 bytes; throws a one-line error naming the value. */
export function macBytes(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`invalid MAC address ${JSON.stringify(text)}: use the form aa:bb:cc:dd:ee:ff`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** Writes the 22-byte VXLAN + inner Ethernet prefix at `off` (inner type IPv4 unless `etherType` says IPv6). */
export function writeEncapPrefix(buf: Uint8Array, off: number, vni: number, dstMac: Uint8Array, dstMacOff: number,
  srcMac: Uint8Array, etherType = ETHERTYPE_IPV4): void {
  buf[off] = VXLAN_FLAG_VNI;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
  const eth = off + VXLAN_HEADER_LEN;
  for (let i = 0; i < 6; i++) buf[eth + i] = dstMac[dstMacOff + i]!;
  for (let i = 0; i < 6; i++) buf[eth + 6 + i] = srcMac[i]!;
  buf[eth + 12] = etherType >> 8;
  buf[eth + 13] = etherType & 0xff;
}

/** The reason a VXLAN frame is not for us, or null when its VXLAN and Ethernet headers are acceptable. */
export type FrameVerdict = null | 'too_short' | 'bad_flags' | 'bad_vni' | 'not_our_mac' | 'not_ipv4';

/**
 * Checks the VXLAN header and inner Ethernet header of a frame at buf[off, off+len); the IPv6 half passes
 * ETHERTYPE_IPV6 (its 'not_ipv4' verdict then means: not the family of this device).
 */
export function checkVxlanFrame(buf: Uint8Array, off: number, len: number, vni: number, ownMac: Uint8Array,
  etherType = ETHERTYPE_IPV4): FrameVerdict {
  if (len < ENCAP_PREFIX_LEN + MIN_IPV4_HEADER_LEN) return 'too_short';
  if (buf[off] !== VXLAN_FLAG_VNI || buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) return 'bad_flags';
  if (((buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!) !== vni) return 'bad_vni';
  const eth = off + VXLAN_HEADER_LEN;
  for (let i = 0; i < 6; i++) if (buf[eth + i] !== ownMac[i]) return 'not_our_mac';
  if (buf[eth + 12] !== etherType >> 8 || buf[eth + 13] !== (etherType & 0xff)) return 'not_ipv4';
  return null;
}

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * The same 32 bits as readU32, as a signed int32: a value V8 keeps as a small integer across any call, where a
 * uint32 above 2^31 becomes a heap number (an allocation) whenever it crosses a call V8 did not inline. The
 * datapath compares and hashes addresses, sequence numbers and flows in this form.
 */
export function readI32(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Length of a well-formed IPv4 packet at buf[off, off+avail): its header says version 4, a header of 20..60 bytes and
 * a total length that fits. Returns 0 when it is not one.
 */
export function ipv4PacketLength(buf: Uint8Array, off: number, avail: number): number {
  if (avail < MIN_IPV4_HEADER_LEN || (buf[off]! >> 4) !== 4) return 0;
  const headerLen = (buf[off]! & 0x0f) * 4;
  const total = readU16(buf, off + 2);
  if (headerLen < MIN_IPV4_HEADER_LEN || total < headerLen || total > avail) return 0;
  return total;
}

/** IPv4 header length in bytes. */
export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off]! & 0x0f) * 4;
}

/** True when the packet is a fragment other than a whole datagram (MF set or offset ≠ 0). */
export function isIPv4Fragment(buf: Uint8Array, off: number): boolean {
  return (readU16(buf, off + 6) & 0x3fff) !== 0;
}
