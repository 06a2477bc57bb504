// IPv4 addresses as unsigned 32-bit numbers: the representation every hot path and the allocator use.
// ip-num stays at the config edges; this file is the few operations flannel needs, without bigint.

export interface Ipv4Net {
  /** Network address as uint32, host bits zero. */
  readonly ip: number;
  readonly prefixLen: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted quad; returns null when it is not one. */
export function parseIPv4(text: string): number | null {
  const m = DOTTED_QUAD.exec(text.trim());
  if (!m) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith('0')) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** Parses a dotted quad that was validated earlier (a peer's PublicIP, a device address); throws on anything else. */
export function requireIPv4(text: string): number {
  const ip = parseIPv4(text);
  if (ip === null) throw new TypeError(`not an IPv4 address: '${text}'`);
  return ip;
}

export function formatIPv4(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Netmask of a prefix length as uint32 (0 for /0). */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** Number of addresses in a prefix, as a plain number (2^32 for /0). */
export function prefixSize(prefixLen: number): number {
  return 2 ** (32 - prefixLen);
}

/** Builds a net with its host bits masked. */
export function makeNet(ip: number, prefixLen: number): Ipv4Net {
  return { ip: (ip & prefixMask(prefixLen)) >>> 0, prefixLen };
}

/**
 * Parses `a.b.c.d/len`. Host bits are masked unless `strict`, in which case they make it invalid.
 * Returns null when the text is not a CIDR.
 */
export function parseCidr(text: string, strict = false): Ipv4Net | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1).trim();
  if (ip === null || !/^\d{1,2}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return null;
  const net = makeNet(ip, prefixLen);
  if (strict && net.ip !== ip) return null;
  return net;
}

export function formatCidr(net: Ipv4Net): string {
  return `${formatIPv4(net.ip)}/${net.prefixLen}`;
}

export function netContainsIP(net: Ipv4Net, ip: number): boolean {
  return ((ip & prefixMask(net.prefixLen)) >>> 0) === net.ip;
}

/** True when `inner` lies entirely inside `outer`. */
export function netContainsNet(outer: Ipv4Net, inner: Ipv4Net): boolean {
  return inner.prefixLen >= outer.prefixLen && netContainsIP(outer, inner.ip);
}

export function netsOverlap(a: Ipv4Net, b: Ipv4Net): boolean {
  return netContainsNet(a, b) || netContainsNet(b, a);
}

export function netsEqual(a: Ipv4Net, b: Ipv4Net): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/** Last address of a net (broadcast). */
export function netLastIP(net: Ipv4Net): number {
  return (net.ip + prefixSize(net.prefixLen) - 1) >>> 0;
}

export function ipToBuffer(ip: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(ip >>> 0, 0);
  return b;
}

export function ipFromBuffer(b: Buffer | Uint8Array, offset = 0): number {
  return ((b[offset]! << 24) | (b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!) >>> 0;
}
