// A hash of an inner packet's flow, for the outer UDP source port: ECMP and RSS on the underlay spread flows the way
// they do for the kernel's VXLAN device, while one flow always takes one path (no reordering).
import { IPPROTO_TCP, IPPROTO_UDP, ipv4HeaderLen, isIPv4Fragment, readI32 } from './wire.js';

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/**
 * Hash of (src, dst, protocol, ports when not a fragment) of the IPv4 packet at `ip`, as an int32 (never a heap
 * number, see wire.ts readI32): take `>>> 0` of it where an unsigned value is needed.
 */
export function innerFlowHash(buf: Uint8Array, ip: number, len: number): number {
  const proto = buf[ip + 9]!;
  let h = mix(mix(mix(0x811c9dc5, readI32(buf, ip + 12)), readI32(buf, ip + 16)), proto);
  const l4 = ip + ipv4HeaderLen(buf, ip);
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && !isIPv4Fragment(buf, ip) && l4 + 4 <= ip + len) {
    h = mix(h, readI32(buf, l4));
  }
  return h;
}
