// TCP segmentation offload done in userspace: a TSO super-packet read from the TUN (one IPv4/TCP header, up to 64 KiB
// of payload) becomes MSS-sized packets, each behind its own copy of the 22-byte encap prefix, laid out back to back
// so that one UDP_SEGMENT send carries them all (every segment but the last has the same size). The TCP rules and
// the per-byte work are native (native/src/segment.cc), in one place; this file only asks and reads the layout.
import { segmentation } from './native.js';
import { IPPROTO_TCP, ipv4HeaderLen } from './wire.js';

/** Where the segments went: count, the size of every segment but the last, and the bytes written. */
export interface SegmentResult {
  count: number;
  segmentSize: number;
  bytes: number;
}

/** The native call's out-array, one per thread (module instance), reused for every frame. */
const layout = new Int32Array(2);

export function emptySegmentResult(): SegmentResult {
  return { count: 0, segmentSize: 0, bytes: 0 };
}

/**
 * Header bytes (IPv4 + TCP) of the TCP/IPv4 packet at `ip`, or 0 when it is not a sane one within `len`. Receive
 * uses it to coalesce and to describe super-packets to the kernel; send never parses headers (see segmentTcp4).
 */
export function tcp4HeaderLen(buf: Uint8Array, ip: number, len: number): number {
  if (buf[ip + 9] !== IPPROTO_TCP) return 0;
  const ipHdr = ipv4HeaderLen(buf, ip);
  if (ipHdr < 20 || ipHdr + 20 > len) return 0;
  const tcpHdr = (buf[ip + ipHdr + 12]! >> 4) * 4;
  if (tcpHdr < 20 || ipHdr + tcpHdr > len) return 0;
  return ipHdr + tcpHdr;
}

/**
 * Splits the TCP/IPv4 packet buf[ip, ip+len) into segments of at most `mss` payload bytes, written back to back
 * from buf[outOff] (not past outEnd), each behind a copy of the 22-byte prefix at buf[prefixOff]. Per segment: IP
 * total length, id (+1 each), header checksum; TCP sequence number, FIN/PSH only on the last, CWR only on the
 * first, full checksum. The per-byte work is the addon's (one call per frame); this decides nothing it does not.
 * Returns false when the packet is not TCP/IPv4 with room for its headers, or the output would not fit.
 */
export function segmentTcp4(buf: Uint8Array, ip: number, len: number, mss: number, prefixOff: number,
  outOff: number, outEnd: number, result: SegmentResult): boolean {
  const count = segmentation().segmentTcp4(buf, ip, len, mss, prefixOff, outOff, outEnd, layout);
  if (count === 0) return false;
  result.count = count;
  result.segmentSize = layout[0]!;
  result.bytes = layout[1]!;
  return true;
}
