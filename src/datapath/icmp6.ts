// ICMPv6 destination unreachable (RFC 4443 §3.1, code 0 "no route") for a packet the IPv6 half cannot deliver,
// written back into flannel-v6.<VNI> so the sender learns at once instead of timing out, as icmp.ts does for IPv4.
import { finishChecksum, sumWords } from './checksum.js';
import { IPV6_HEADER_LEN } from './peer-table6.js';
import { writeU16, writeU32 } from './wire.js';

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_NO_ROUTE = 0;
const IPPROTO_ICMPV6 = 58;
/** A reply stays within the IPv6 minimum MTU (RFC 4443 §2.4 c): IPv6 + ICMPv6 headers + the quote. */
export const MAX_ICMP6_REPLY_LEN = 1280;

/**
 * True when an error may be sent about the IPv6 packet at `ip` (RFC 4443 §2.4 e): not about an ICMPv6 error (types
 * below 128), nor to or from a multicast address, nor from the unspecified address.
 */
export function mayAnswerWithIcmp6Error(buf: Uint8Array, ip: number, len: number): boolean {
  if (len < IPV6_HEADER_LEN || buf[ip + 8] === 0xff || buf[ip + 24] === 0xff) return false;
  let unspecified = true;
  for (let i = 8; i < 24; i++) if (buf[ip + i] !== 0) unspecified = false;
  if (unspecified) return false;
  return !(buf[ip + 6] === IPPROTO_ICMPV6 && len > IPV6_HEADER_LEN && buf[ip + IPV6_HEADER_LEN]! < 128);
}

/**
 * Writes at out[off] an ICMPv6 destination-unreachable from the 16 bytes at from[fromOff] to the packet's source,
 * quoting as much of the packet as fits in MAX_ICMP6_REPLY_LEN. Returns the reply's length.
 */
export function writeIcmp6Unreachable(pkt: Uint8Array, ip: number, len: number, from: Uint8Array, fromOff: number,
  out: Uint8Array, off: number): number {
  const quoted = Math.min(len, MAX_ICMP6_REPLY_LEN - IPV6_HEADER_LEN - 8);
  const icmpLen = 8 + quoted;
  writeU32(out, off, 0x60000000);
  writeU16(out, off + 4, icmpLen);
  out[off + 6] = IPPROTO_ICMPV6;
  out[off + 7] = 64;
  for (let i = 0; i < 16; i++) out[off + 8 + i] = from[fromOff + i]!;
  for (let i = 0; i < 16; i++) out[off + 24 + i] = pkt[ip + 8 + i]!;
  const icmp = off + IPV6_HEADER_LEN;
  out[icmp] = ICMP6_DEST_UNREACH;
  out[icmp + 1] = ICMP6_NO_ROUTE;
  writeU16(out, icmp + 2, 0);
  writeU32(out, icmp + 4, 0);
  out.set(pkt.subarray(ip, ip + quoted), icmp + 8);
  // Pseudo-header: both addresses, the ICMPv6 length and next header 58 (RFC 8200 §8.1).
  const sum = sumWords(out, off + 8, 32, icmpLen + IPPROTO_ICMPV6);
  writeU16(out, icmp + 2, finishChecksum(sumWords(out, icmp, icmpLen, sum)));
  return IPV6_HEADER_LEN + icmpLen;
}
