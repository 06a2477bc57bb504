// TCP segmentation offload done in userspace: a TSO super-packet read from the TUN (one IPv4/TCP header, up to 64 KiB
// of payload) becomes MSS-sized packets, each behind its own copy of the 22-byte encap prefix, laid out back to back
// so that one UDP_SEGMENT send carries them all (every segment but the last has the same size).
import { finishChecksum, pseudoHeaderSum, sumWords, writeIPv4HeaderChecksum } from './checksum.js';
import { ENCAP_PREFIX_LEN, IPPROTO_TCP, ipv4HeaderLen, readU16, readU32, writeU16, writeU32 } from './wire.js';

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Where the segments went: count, the size of every segment but the last, and the bytes written. */
export interface SegmentResult {
  count: number;
  segmentSize: number;
  bytes: number;
}

export function emptySegmentResult(): SegmentResult {
  return { count: 0, segmentSize: 0, bytes: 0 };
}

/** Header bytes (IPv4 + TCP) of the TCP/IPv4 packet at `ip`, or 0 when it is not a sane one within `len`. */
export function tcp4HeaderLen(buf: Uint8Array, ip: number, len: number): number {
  if (buf[ip + 9] !== IPPROTO_TCP) return 0;
  const ipHdr = ipv4HeaderLen(buf, ip);
  if (ipHdr < 20 || ipHdr + 20 > len) return 0;
  const tcpHdr = (buf[ip + ipHdr + 12]! >> 4) * 4;
  if (tcpHdr < 20 || ipHdr + tcpHdr > len) return 0;
  return ipHdr + tcpHdr;
}

/**
 * Splits the TCP/IPv4 packet src[ip, ip+len) into segments of at most `mss` payload bytes written to `out` from
 * `outOff`, each preceded by prefix[prefixOff, prefixOff+22). Per segment: IP total length, id (+1 each), header
 * checksum; TCP sequence number, FIN/PSH only on the last, CWR only on the first, full checksum. Returns false (and
 * writes nothing meaningful) when the packet is not TCP/IPv4 with room for its headers.
 */
export function segmentTcp4(src: Uint8Array, ip: number, len: number, mss: number, prefix: Uint8Array,
  prefixOff: number, out: Uint8Array, outOff: number, result: SegmentResult): boolean {
  const hdrLen = tcp4HeaderLen(src, ip, len);
  if (hdrLen === 0 || mss <= 0) return false;
  const ipHdr = ipv4HeaderLen(src, ip);
  const tcpHdr = hdrLen - ipHdr;
  const payloadTotal = len - hdrLen;
  const count = Math.max(1, Math.ceil(payloadTotal / mss));
  const id0 = readU16(src, ip + 4);
  const seq0 = readU32(src, ip + ipHdr + 4);
  const flags0 = src[ip + ipHdr + 13]!;
  let o = outOff;
  for (let i = 0; i < count; i++) {
    const payloadOff = i * mss;
    const payloadLen = Math.min(mss, payloadTotal - payloadOff);
    out.set(prefix.subarray(prefixOff, prefixOff + ENCAP_PREFIX_LEN), o);
    const oip = o + ENCAP_PREFIX_LEN;
    out.set(src.subarray(ip, ip + hdrLen), oip);
    out.set(src.subarray(ip + hdrLen + payloadOff, ip + hdrLen + payloadOff + payloadLen), oip + hdrLen);
    writeU16(out, oip + 2, hdrLen + payloadLen);
    writeU16(out, oip + 4, (id0 + i) & 0xffff);
    writeIPv4HeaderChecksum(out, oip, ipHdr);
    const tcp = oip + ipHdr;
    writeU32(out, tcp + 4, (seq0 + payloadOff) >>> 0);
    let flags = flags0;
    if (i !== count - 1) flags &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) flags &= ~TCP_CWR;
    out[tcp + 13] = flags;
    out[tcp + 16] = 0;
    out[tcp + 17] = 0;
    const l4Len = tcpHdr + payloadLen;
    const c = finishChecksum(sumWords(out, tcp, l4Len, pseudoHeaderSum(out, oip, IPPROTO_TCP, l4Len)));
    writeU16(out, tcp + 16, c);
    o += ENCAP_PREFIX_LEN + hdrLen + payloadLen;
  }
  result.count = count;
  result.segmentSize = ENCAP_PREFIX_LEN + hdrLen + Math.min(mss, payloadTotal);
  result.bytes = o - outOff;
  return true;
}
