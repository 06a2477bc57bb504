// flannel's udp wire format, without I/O: a datagram to port 8285 carries exactly one raw IPv4 packet, no header of
// its own. What makes it more than a copy: upstream's proxy lowers the TTL on both hops (TUN → socket and socket →
// TUN) and drops a packet whose TTL reaches 0, so a tsflanneld node does the same and traceroute/ping TTLs look as
// in an upstream cluster; and because there is no prefix to overwrite, the buffer layout must leave room in front of
// every packet for the virtio_net_hdr of the TUN write (spreadTrain) and must drop the VXLAN-sized room the shared
// segmenter writes in front of each segment (packSegments).
import { writeIPv4HeaderChecksum } from './checksum.js';
import { ipv4HeaderLen } from './wire.js';

/**
 * Lowers the TTL of the IPv4 packet at `ip` by one and fixes its header checksum; false (nothing changed) when the
 * TTL would reach 0, for the caller to drop the packet.
 */
export function decrementTtl(buf: Uint8Array, ip: number): boolean {
  const ttl = buf[ip + 8]!;
  if (ttl <= 1) return false;
  buf[ip + 8] = ttl - 1;
  writeIPv4HeaderChecksum(buf, ip, ipv4HeaderLen(buf, ip));
  return true;
}

/**
 * A UDP_GRO train: `len` bytes at `start` made of back-to-back datagrams of `gso` bytes (the last may be shorter).
 * Moves datagram k to start + k*(gso+gap), so that every one but the first has `gap` free bytes before it; the
 * caller keeps the first one's. Returns the number of datagrams, or 0 when the spread layout would pass `limit`.
 */
export function spreadTrain(buf: Uint8Array, start: number, len: number, gso: number, gap: number, limit: number): number {
  if (gso <= 0 || len <= 0) return 0;
  const count = Math.ceil(len / gso);
  if (start + len + (count - 1) * gap > limit) return 0;
  // Last first: every move goes up, so a datagram is never overwritten before it has moved.
  for (let k = count - 1; k > 0; k--) {
    const from = start + k * gso;
    buf.copyWithin(start + k * (gso + gap), from, Math.min(start + len, from + gso));
  }
  return count;
}

/**
 * Segments written back to back from `start`, `count` of them, each `segmentSize` bytes (the last may be shorter,
 * `bytes` in all) and each behind `prefixLen` bytes of a prefix udp does not send: removes the prefixes, leaving the
 * bare packets back to back from `start`. Returns the bytes left; every packet but the last has segmentSize −
 * prefixLen of them.
 */
export function packSegments(buf: Uint8Array, start: number, count: number, segmentSize: number, bytes: number,
  prefixLen: number): number {
  for (let k = 0; k < count; k++) {
    const from = start + k * segmentSize + prefixLen;
    const end = Math.min(start + bytes, start + (k + 1) * segmentSize);
    buf.copyWithin(start + k * (segmentSize - prefixLen), from, end);
  }
  return bytes - count * prefixLen;
}
