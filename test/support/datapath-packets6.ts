// Test helpers for the IPv6 half: TCP/IPv6 packets and their checksum check, with the naive RFC 1071 sum of
// ./datapath-packets.ts and the RFC 8200 §8.1 pseudo-header, independent of src/datapath.
import { requireIPv6, ip6ToBuffer } from '../../src/net/ipv6.js';
import { concat, naiveChecksum, TCP_ACK } from './datapath-packets.js';

export interface Tcp6Spec {
  src?: string;
  dst?: string;
  sport?: number;
  seq?: number;
  flags?: number;
  payload: Uint8Array;
}

/** Pseudo-header (src, dst, upper-layer length, next header) + the L4 bytes of an IPv6 packet without extensions. */
function pseudo6AndSegment(p: Uint8Array): Uint8Array {
  const l4 = p.subarray(40);
  const pseudo = new Uint8Array(40);
  pseudo.set(p.subarray(8, 40), 0);
  new DataView(pseudo.buffer).setUint32(32, l4.length);
  pseudo[39] = p[6]!;
  return concat(pseudo, l4);
}

/** True when the TCP/UDP checksum of the IPv6 packet verifies. */
export function checksum6Valid(p: Uint8Array): boolean {
  return naiveChecksum(pseudo6AndSegment(p)) === 0;
}

/** A TCP/IPv6 packet (no extension headers) with a valid checksum. */
export function tcp6Packet(s: Tcp6Spec): Uint8Array {
  const p = new Uint8Array(60 + s.payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x60;
  dv.setUint16(4, 20 + s.payload.length);
  p[6] = 6;
  p[7] = 64;
  p.set(ip6ToBuffer(requireIPv6(s.src ?? 'fd00:1:0:1::2')), 8);
  p.set(ip6ToBuffer(requireIPv6(s.dst ?? 'fd00:1:0:2::2')), 24);
  dv.setUint16(40, s.sport ?? 40000);
  dv.setUint16(42, 5201);
  dv.setUint32(44, (s.seq ?? 1000) >>> 0);
  dv.setUint32(48, 77);
  p[52] = 5 << 4;
  p[53] = s.flags ?? TCP_ACK;
  dv.setUint16(54, 502);
  p.set(s.payload, 60);
  dv.setUint16(56, naiveChecksum(pseudo6AndSegment(p)));
  return p;
}
