// IPv6 addresses as unsigned 128-bit bigints: exact at both ends of the space, which plain numbers are not.
// Only config, lease and route code uses this (never a per-packet path), so bigint's cost does not matter here.
import { isIPv6 } from 'node:net';

type IpNum = typeof import('ip-num');
let ipNum: IpNum | null = null;

/** ip-num works out IPv6 constants as it loads (~15 ms of CPU): loaded at the first IPv6 text, not at every start. */
function ipNumber(text: string): bigint {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ipNum ??= require('ip-num') as IpNum;
  return ipNum.IPv6.fromString(text).getValue();
}

export interface Ipv6Net {
  /** Network address, host bits zero. */
  readonly ip: bigint;
  readonly prefixLen: number;
}

const ALL_ONES = (1n << 128n) - 1n;

/** Parses an IPv6 address (any RFC 4291 text form, no zone); null when it is not one. */
export function parseIPv6(input: string): bigint | null {
  const text = input.trim();
  // node:net says whether it is an address; ip-num turns the text into the number.
  if (!isIPv6(text) || text.includes('%')) return null;
  return ipNumber(text);
}

export function requireIPv6(text: string): bigint {
  const ip = parseIPv6(text);
  if (ip === null) throw new TypeError(`not an IPv6 address: '${text}'`);
  return ip;
}

/**
 * RFC 5952 text, as Go's net.IP prints it (and as upstream's lease keys spell it; ip-num prints every group, so
 * this one is by hand): lowercase, no leading zeros, the longest run of two or more zero groups
 * (the first one on a tie) written as `::`.
 */
export function formatIPv6(ip: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((ip >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function prefixMask6(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL_ONES << BigInt(128 - prefixLen)) & ALL_ONES;
}

/** Number of addresses in a prefix (2^(128-len)). */
export function prefixSize6(prefixLen: number): bigint {
  return 1n << BigInt(128 - prefixLen);
}

export function makeNet6(ip: bigint, prefixLen: number): Ipv6Net {
  return { ip: ip & prefixMask6(prefixLen), prefixLen };
}

/** Parses `addr/len`; host bits are masked unless `strict`, which rejects them. Null when not a v6 CIDR. */
export function parseCidr6(text: string, strict = false): Ipv6Net | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIPv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1).trim();
  if (ip === null || !/^\d{1,3}$/.test(lenText)) return null;
  const prefixLen = Number(lenText);
  if (prefixLen > 128) return null;
  const net = makeNet6(ip, prefixLen);
  if (strict && net.ip !== ip) return null;
  return net;
}

export function formatCidr6(net: Ipv6Net): string {
  return `${formatIPv6(net.ip)}/${net.prefixLen}`;
}

export function net6ContainsIP(net: Ipv6Net, ip: bigint): boolean {
  return (ip & prefixMask6(net.prefixLen)) === net.ip;
}

export function net6ContainsNet(outer: Ipv6Net, inner: Ipv6Net): boolean {
  return inner.prefixLen >= outer.prefixLen && net6ContainsIP(outer, inner.ip);
}

export function nets6Overlap(a: Ipv6Net, b: Ipv6Net): boolean {
  return net6ContainsNet(a, b) || net6ContainsNet(b, a);
}

export function nets6Equal(a: Ipv6Net, b: Ipv6Net): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}

/** Last address of a net. */
export function net6LastIP(net: Ipv6Net): bigint {
  return net.ip + prefixSize6(net.prefixLen) - 1n;
}

/** The 16 network-order bytes of an address (for netlink). */
export function ip6ToBuffer(ip: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(ip >> 64n, 0);
  b.writeBigUInt64BE(ip & 0xffffffffffffffffn, 8);
  return b;
}

export function ip6FromBuffer(b: Buffer | Uint8Array, offset = 0): bigint {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return (buf.readBigUInt64BE(offset) << 64n) | buf.readBigUInt64BE(offset + 8);
}

const LINK_LOCAL6 = { ip: 0xfe80n << 112n, prefixLen: 10 };
const MULTICAST6 = { ip: 0xffn << 120n, prefixLen: 8 };

/** Global unicast (what upstream takes as the interface's IPv6 address): not ::, ::1, link-local or multicast. */
export function isGlobalUnicast6(ip: bigint): boolean {
  return ip > 1n && !net6ContainsIP(LINK_LOCAL6, ip) && !net6ContainsIP(MULTICAST6, ip);
}
