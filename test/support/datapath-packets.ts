// Test helpers: build IPv4/TCP/UDP packets and check checksums with a deliberately naive implementation of RFC 1071
// (one 16-bit word at a time, folding every step), independent of src/datapath/checksum.ts.

export function naiveChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const word = (bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    sum += word;
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  return ~sum & 0xffff;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

/** Pseudo-header (src, dst, 0, proto, length) + segment: the bytes a TCP/UDP checksum covers. */
export function pseudoAndSegment(packet: Uint8Array): Uint8Array {
  const ihl = (packet[0]! & 15) * 4;
  const l4 = packet.subarray(ihl);
  const pseudo = new Uint8Array(12);
  pseudo.set(packet.subarray(12, 20), 0);
  pseudo[9] = packet[9]!;
  pseudo[10] = l4.length >> 8;
  pseudo[11] = l4.length & 255;
  return concat(pseudo, l4);
}

/** True when the IPv4 header checksum and the TCP/UDP checksum of `packet` verify. */
export function checksumsValid(packet: Uint8Array): boolean {
  const ihl = (packet[0]! & 15) * 4;
  if (naiveChecksum(packet.subarray(0, ihl)) !== 0) return false;
  return naiveChecksum(pseudoAndSegment(packet)) === 0;
}

export interface TcpSpec {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  id?: number;
  options?: Uint8Array;
  payload: Uint8Array;
}

export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;
export const TCP_SYN = 0x02;
export const TCP_FIN = 0x01;

/** A TCP/IPv4 packet with valid checksums. */
export function tcpPacket(s: TcpSpec): Uint8Array {
  const options = s.options ?? new Uint8Array(0);
  const tcpLen = 20 + options.length;
  const total = 20 + tcpLen + s.payload.length;
  const p = new Uint8Array(total);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, total);
  dv.setUint16(4, s.id ?? 0x1234);
  dv.setUint16(6, 0x4000);
  p[8] = 64;
  p[9] = 6;
  p.set(ipBytes(s.src ?? '10.244.1.2'), 12);
  p.set(ipBytes(s.dst ?? '10.244.2.2'), 16);
  dv.setUint16(10, naiveChecksum(p.subarray(0, 20)));
  dv.setUint16(20, s.sport ?? 40000);
  dv.setUint16(22, s.dport ?? 5201);
  dv.setUint32(24, (s.seq ?? 1000) >>> 0);
  dv.setUint32(28, (s.ack ?? 77) >>> 0);
  p[32] = (tcpLen / 4) << 4;
  p[33] = s.flags ?? TCP_ACK;
  dv.setUint16(34, 502);
  p.set(options, 40);
  p.set(s.payload, 20 + tcpLen);
  dv.setUint16(36, naiveChecksum(pseudoAndSegment(p)));
  return p;
}

/** A UDP/IPv4 packet with a valid checksum. */
export function udpPacket(payload: Uint8Array, src = '10.244.1.2', dst = '10.244.2.2'): Uint8Array {
  const total = 28 + payload.length;
  const p = new Uint8Array(total);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, total);
  p[8] = 64;
  p[9] = 17;
  p.set(ipBytes(src), 12);
  p.set(ipBytes(dst), 16);
  dv.setUint16(10, naiveChecksum(p.subarray(0, 20)));
  dv.setUint16(20, 5353);
  dv.setUint16(22, 53);
  dv.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  dv.setUint16(26, naiveChecksum(pseudoAndSegment(p)) || 0xffff);
  return p;
}

/** The pseudo-header seed a CHECKSUM_PARTIAL sender leaves in the L4 checksum field. */
export function withPartialSeed(packet: Uint8Array): Uint8Array {
  const p = packet.slice();
  const ihl = (p[0]! & 15) * 4;
  const off = ihl + (p[9] === 6 ? 16 : 6);
  const l4len = p.length - ihl;
  const pseudo = new Uint8Array(12);
  pseudo.set(p.subarray(12, 20), 0);
  pseudo[9] = p[9]!;
  pseudo[10] = l4len >> 8;
  pseudo[11] = l4len & 255;
  const seed = ~naiveChecksum(pseudo) & 0xffff;
  p[off] = seed >> 8;
  p[off + 1] = seed & 255;
  return p;
}

/** VXLAN (flags 0x08, vni) + Ethernet (dst, src, 0x0800) + packet. */
export function vxlanFrame(packet: Uint8Array, vni: number, dstMac: Uint8Array, srcMac: Uint8Array,
  ethertype = 0x0800, flags = 0x08): Uint8Array {
  const h = new Uint8Array(22);
  h[0] = flags;
  h[4] = (vni >> 16) & 255;
  h[5] = (vni >> 8) & 255;
  h[6] = vni & 255;
  h.set(dstMac, 8);
  h.set(srcMac, 14);
  h[20] = ethertype >> 8;
  h[21] = ethertype & 255;
  return concat(h, packet);
}

export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

export { concat };
