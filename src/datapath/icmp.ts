// ICMP destination unreachable (RFC 792) for a packet the loop cannot deliver, written back into the TUN so the sender
// learns at once instead of timing out.
import { finishChecksum, sumWords, writeIPv4HeaderChecksum } from './checksum.js';
import { IPPROTO_ICMP, ipv4HeaderLen, isIPv4Fragment, readU32, writeU16, writeU32 } from './wire.js';

export const ICMP_DEST_UNREACH = 3;
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
/** Largest reply: IPv4 (20) + ICMP (8) + the offending header (≤ 60) + 8 bytes of its payload. */
export const MAX_ICMP_REPLY_LEN = 20 + 8 + 60 + 8;

/** True when an error may be sent about this packet (RFC 1122 3.2.2: not about ICMP errors, fragments, broadcasts). */
export function mayAnswerWithIcmpError(buf: Uint8Array, ip: number, len: number): boolean {
  if (isIPv4Fragment(buf, ip)) return false;
  const src = readU32(buf, ip + 12);
  const dst = readU32(buf, ip + 16);
  if (src === 0 || (src >>> 28) === 0xe || (dst >>> 28) === 0xe || dst === 0xffffffff) return false;
  if (buf[ip + 9] === IPPROTO_ICMP) {
    const type = buf[ip + ipv4HeaderLen(buf, ip)];
    // Only queries (echo request 8, echo reply 0, timestamp 13/14…) get errors, never errors about errors.
    if (type !== 0 && type !== 8 && type !== 13 && type !== 14) return false;
  }
  return len >= 20;
}

/**
 * Writes at `out` an IPv4 ICMP destination-unreachable from `fromIP` to the packet's source, quoting its header and
 * first 8 payload bytes. Returns the reply's length.
 */
export function writeIcmpUnreachable(pkt: Uint8Array, ip: number, len: number, fromIP: number, code: number,
  out: Uint8Array, off: number): number {
  const quoted = Math.min(len, ipv4HeaderLen(pkt, ip) + 8);
  const total = 20 + 8 + quoted;
  out[off] = 0x45;
  out[off + 1] = 0xc0;
  writeU16(out, off + 2, total);
  writeU32(out, off + 4, 0);
  out[off + 8] = 64;
  out[off + 9] = IPPROTO_ICMP;
  writeU32(out, off + 12, fromIP);
  writeU32(out, off + 16, readU32(pkt, ip + 12));
  writeIPv4HeaderChecksum(out, off, 20);
  const icmp = off + 20;
  out[icmp] = ICMP_DEST_UNREACH;
  out[icmp + 1] = code;
  writeU32(out, icmp + 2, 0);
  writeU16(out, icmp + 6, 0);
  out.set(pkt.subarray(ip, ip + quoted), icmp + 8);
  writeU16(out, icmp + 2, finishChecksum(sumWords(out, icmp, 8 + quoted)));
  return total;
}
