// Upstream's wire formats for leases: the subnet key `A.B.C.D-LEN`, dual-stack `A.B.C.D-LEN&v6addr-LEN` (the v6
// address in Go's compressed lowercase form), and the LeaseAttrs JSON value, written field for field as Go's
// encoding/json does. A lease's identity is its IPv4 subnet, except in an IPv6-only network, where every key carries
// the zero IPv4 half `0.0.0.0-0` (upstream's empty IP4Net) and the IPv6 subnet tells leases apart.
import { formatIPv4, makeNet, parseIPv4, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, formatIPv6, makeNet6, parseIPv6, type Ipv6Net } from '../net/ipv6.js';
import { truncateForLog } from '../log-values.js';
import type { LeaseAttrs } from './lease.js';

// Upstream's key regex, with its dots escaped and anchored at both ends (upstream's is loose at the start).
const SUBNET_KEY = /^(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** `10.5.34.0/24` → `10.5.34.0-24`; with an IPv6 subnet `10.5.34.0-24&fd00:0:0:22::-64`. */
export function subnetKey(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string {
  const v4 = `${formatIPv4(subnet.ip)}-${subnet.prefixLen}`;
  return ipv6Subnet ? `${v4}&${formatIPv6(ipv6Subnet.ip)}-${ipv6Subnet.prefixLen}` : v4;
}

export interface LeaseKeyParts {
  readonly subnet: Ipv4Net;
  /** Null for an IPv4-only key. */
  readonly ipv6Subnet: Ipv6Net | null;
}

/**
 * Parses the last path element of a lease key; null when it is not a subnet key, has host bits set in either part,
 * or has an impossible prefix length.
 */
export function parseLeaseKey(key: string): LeaseKeyParts | null {
  const m = SUBNET_KEY.exec(key);
  if (!m) return null;
  const ip = parseIPv4(m[1] as string);
  const prefixLen = Number(m[2]);
  if (ip === null || !Number.isInteger(prefixLen) || prefixLen > 32) return null;
  const subnet = makeNet(ip, prefixLen);
  if (subnet.ip !== ip) return null;
  if (m[3] === undefined) return { subnet, ipv6Subnet: null };
  const ip6 = parseIPv6(m[3]);
  const prefixLen6 = Number(m[4]);
  if (ip6 === null || !Number.isInteger(prefixLen6) || prefixLen6 > 128) return null;
  const ipv6Subnet = makeNet6(ip6, prefixLen6);
  return ipv6Subnet.ip === ip6 ? { subnet, ipv6Subnet } : null;
}

/** The IPv4 half of an IPv6-only lease (upstream's empty IP4Net), written `0.0.0.0-0` in its key. */
export const NO_IPV4_SUBNET: Ipv4Net = Object.freeze({ ip: 0, prefixLen: 0 });

/** True for the `0.0.0.0-0` half of an IPv6-only lease: a /0 is never a flannel subnet otherwise. */
export function isIpv6OnlySubnet(subnet: Ipv4Net): boolean {
  return subnet.prefixLen === 0;
}

/**
 * The string that tells one lease from another: the IPv4 key (`10.0.5.0-24`) whenever there is an IPv4 half, so the
 * IPv4 and dual-stack paths key their maps exactly as before; the full key (`0.0.0.0-0&fd00:0:0:5::-64`) otherwise.
 */
export function leaseIdentity(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string {
  return isIpv6OnlySubnet(subnet) ? subnetKey(subnet, ipv6Subnet) : subnetKey(subnet);
}

/** A lease's subnet for logs and messages: the IPv4 one, or in an IPv6-only network the IPv6 one. */
export function leaseName(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string {
  return isIpv6OnlySubnet(subnet) && ipv6Subnet ? formatCidr6(ipv6Subnet) : `${formatIPv4(subnet.ip)}/${subnet.prefixLen}`;
}

/** The IPv4 subnet of a lease key (its identity), or null as parseLeaseKey. */
export function parseSubnetKey(key: string): Ipv4Net | null {
  return parseLeaseKey(key)?.subnet ?? null;
}

/** The value upstream writes: PublicIP, PublicIPv6 (null when absent), then BackendType/BackendData only when set. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const out: Record<string, unknown> = { PublicIP: attrs.publicIP, PublicIPv6: attrs.publicIPv6 ?? null };
  if (attrs.backendType) out.BackendType = attrs.backendType;
  if (attrs.backendData !== undefined && attrs.backendData !== null) out.BackendData = attrs.backendData;
  if (attrs.backendV6Data !== undefined && attrs.backendV6Data !== null) out.BackendV6Data = attrs.backendV6Data;
  return JSON.stringify(out);
}

export class LeaseValueError extends Error {
  override readonly name = 'LeaseValueError';
}

/** Field lookup the way Go's encoding/json matches: exact name first, then case-insensitively. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/**
 * Parses a lease value. Tolerates upstream's variants (no PublicIPv6 before dual stack, no BackendType for udp);
 * throws LeaseValueError with a one-line reason for anything else.
 */
export function decodeLeaseAttrs(text: string): LeaseAttrs {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LeaseValueError(`lease value is not JSON: ${truncateForLog(JSON.stringify(text), 120)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LeaseValueError(`lease value is not a JSON object: ${truncateForLog(JSON.stringify(text), 120)}`);
  }
  const obj = parsed as Record<string, unknown>;
  const publicIP = field(obj, 'PublicIP');
  if (typeof publicIP !== 'string' || parseIPv4(publicIP) === null) {
    throw new LeaseValueError(`lease value has no valid PublicIP (got ${truncateForLog(publicIP ?? null, 120)})`);
  }
  const publicIPv6 = field(obj, 'PublicIPv6');
  if (publicIPv6 !== undefined && publicIPv6 !== null && typeof publicIPv6 !== 'string') {
    throw new LeaseValueError(`lease value has a PublicIPv6 that is not a string: ${truncateForLog(publicIPv6, 120)}`);
  }
  // Upstream's decoder rejects the whole value when PublicIPv6 is not an address; so do we.
  if (typeof publicIPv6 === 'string' && parseIPv6(publicIPv6) === null) {
    throw new LeaseValueError(`lease value has a PublicIPv6 that is not an IPv6 address: ${truncateForLog(publicIPv6, 120)}`);
  }
  const backendType = field(obj, 'BackendType');
  if (backendType !== undefined && backendType !== null && typeof backendType !== 'string') {
    throw new LeaseValueError(`lease value has a BackendType that is not a string: ${truncateForLog(backendType, 120)}`);
  }
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = {
    publicIP: publicIP.trim(),
    publicIPv6: typeof publicIPv6 === 'string' ? publicIPv6 : null,
  };
  if (typeof backendType === 'string' && backendType !== '') attrs.backendType = backendType;
  const backendData = field(obj, 'BackendData');
  if (backendData !== undefined && backendData !== null) attrs.backendData = backendData;
  const backendV6Data = field(obj, 'BackendV6Data');
  if (backendV6Data !== undefined && backendV6Data !== null) attrs.backendV6Data = backendV6Data;
  return attrs;
}

/** True when two attribute sets would be written identically (what a peer would see as "changed"). */
export function sameLeaseAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return encodeLeaseAttrs(a) === encodeLeaseAttrs(b);
}
