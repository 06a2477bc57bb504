// Which peer leases a backend may act on. A lease is a routing instruction every host follows, so a careless or
// hostile writer of one etcd key could otherwise steer other hosts' traffic (issue 20 item 2). Pure: values in,
// a verdict out; the watcher does the bookkeeping and the logging.
import { formatCidr, formatIPv4, netContainsNet, netsOverlap, parseIPv4, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, formatIPv6, isGlobalUnicast6, net6ContainsNet, nets6Overlap, parseIPv6, type Ipv6Net } from '../net/ipv6.js';
import { truncateForLog } from '../log-values.js';
import type { Lease } from './lease.js';
import { isIpv6OnlySubnet } from './codec.js';

export interface LeaseRules {
  /** The config's Network; leases must be proper subnets of it. */
  readonly network?: Ipv4Net | null;
  /** The config's SubnetLen; every lease must have exactly this length. */
  readonly subnetLen?: number | null;
  /** Our own subnet: never routed to a peer, and nothing may overlap it. `0.0.0.0/0` in an IPv6-only network. */
  readonly ownSubnet: Ipv4Net;
  /** Our own PublicIP: a peer that claims it would make us route to ourselves. */
  readonly ownPublicIP?: string | null;
  /** With EnableIPv6: the same rules for a lease's IPv6 part. */
  readonly ipv6?: Ipv6LeaseRules | null;
}

export interface Ipv6LeaseRules {
  readonly network: Ipv6Net;
  readonly subnetLen: number;
  readonly ownSubnet: Ipv6Net | null;
  readonly ownPublicIPv6: string | null;
}

export type LeaseVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly own: true }
  | { readonly ok: false; readonly own: false; readonly why: string };

const OK: LeaseVerdict = { ok: true };
const OWN: LeaseVerdict = { ok: false, own: true };

/**
 * Why an IPv4 address cannot be a peer's underlay address, or null when it is an ordinary unicast address.
 * 0.0.0.0/8 makes host-gw install `dev <iface>` routes (whoever answers ARP gets the traffic); loopback would send
 * the traffic back into this host; multicast and the reserved class E (with 255.255.255.255) reach many hosts.
 */
export function nonUnicastReason(ip: number): string | null {
  const first = ip >>> 24;
  if (first === 0) return 'is in 0.0.0.0/8 ("this network", not a host)';
  if (first === 127) return 'is a loopback address';
  if (first >= 224 && first <= 239) return 'is a multicast address';
  if (ip >>> 0 === 0xffffffff) return 'is the broadcast address';
  if (first >= 240) return 'is in the reserved 240.0.0.0/4';
  return null;
}

/** The verdict on one lease, in a fixed order so the same lease always gets the same reason. */
export function judgeLease(lease: Lease, rules: LeaseRules): LeaseVerdict {
  const subnet = lease.subnet;
  const own = rules.ownSubnet;
  if (isIpv6OnlySubnet(own)) return judgeIpv6OnlyLease(lease, rules.ipv6 ?? null);
  if (subnet.ip === own.ip && subnet.prefixLen === own.prefixLen) return OWN;
  const network = rules.network ?? null;
  if (network && (!netContainsNet(network, subnet) || subnet.prefixLen <= network.prefixLen)) {
    return reject(`it is not a subnet inside the network ${formatCidr(network)}`);
  }
  const len = rules.subnetLen ?? null;
  if (len !== null && subnet.prefixLen !== len) {
    // Every accepted lease has the config's length and is aligned to it, so accepted leases never overlap one
    // another: rejecting the odd length is what resolves any overlap, in favour of the lease of the right length.
    return reject(`its length /${subnet.prefixLen} is not the network's SubnetLen /${len}`);
  }
  if (netsOverlap(subnet, own)) return reject(`it overlaps our own subnet ${formatCidr(own)}`);
  const ip = parseIPv4(lease.attrs.publicIP);
  if (ip === null) return reject(`its PublicIP ${truncateForLog(JSON.stringify(lease.attrs.publicIP), 64)} is not an IPv4 address`);
  const bad = nonUnicastReason(ip);
  if (bad !== null) return reject(`its PublicIP ${formatIPv4(ip)} ${bad}`);
  if (rules.ownPublicIP && parseIPv4(rules.ownPublicIP) === ip) {
    return reject(`its PublicIP ${rules.ownPublicIP} is our own (a stale lease of ours or a host with our address)`);
  }
  return rules.ipv6 ? judgeIpv6Part(lease, rules.ipv6) : OK;
}

/**
 * The IPv6 part of a lease, judged like the IPv4 one. A lease without one is fine (a node of an IPv4-only
 * network that has not restarted yet): it only gets no IPv6 route.
 */
function judgeIpv6Part(lease: Lease, rules: Ipv6LeaseRules): LeaseVerdict {
  const subnet = lease.ipv6Subnet;
  if (!subnet) return OK;
  if (!net6ContainsNet(rules.network, subnet) || subnet.prefixLen <= rules.network.prefixLen) {
    return reject(`its IPv6 subnet ${formatCidr6(subnet)} is not a subnet inside IPv6Network ${formatCidr6(rules.network)}`);
  }
  if (subnet.prefixLen !== rules.subnetLen) {
    return reject(`its IPv6 subnet length /${subnet.prefixLen} is not the network's IPv6SubnetLen /${rules.subnetLen}`);
  }
  if (rules.ownSubnet && nets6Overlap(subnet, rules.ownSubnet)) {
    return reject(`its IPv6 subnet overlaps our own ${formatCidr6(rules.ownSubnet)}`);
  }
  const text = lease.attrs.publicIPv6;
  if (text === null) return OK;
  const ip = parseIPv6(text);
  if (ip === null || !isGlobalUnicast6(ip)) {
    return reject(`its PublicIPv6 ${truncateForLog(JSON.stringify(text), 64)} is not a global unicast IPv6 address`);
  }
  if (rules.ownPublicIPv6 && parseIPv6(rules.ownPublicIPv6) === ip) {
    return reject(`its PublicIPv6 ${formatIPv6(ip)} is our own (a stale lease of ours or a host with our address)`);
  }
  return OK;
}

/**
 * In an IPv6-only network every key has the IPv4 half `0.0.0.0-0`, so the IPv6 part is the lease: ours when its
 * IPv6 subnet is, and a peer's only with an IPv6 subnet and a PublicIPv6 to route to.
 */
function judgeIpv6OnlyLease(lease: Lease, rules: Ipv6LeaseRules | null): LeaseVerdict {
  if (!isIpv6OnlySubnet(lease.subnet)) {
    return reject(`it has the IPv4 subnet ${formatCidr(lease.subnet)} in an IPv6-only network (EnableIPv4 false)`);
  }
  const subnet = lease.ipv6Subnet;
  if (!subnet || !rules) return reject('it has no IPv6 subnet (an IPv6-only key is 0.0.0.0-0&<IPv6 subnet>-<length>)');
  const own = rules.ownSubnet;
  if (own && subnet.ip === own.ip && subnet.prefixLen === own.prefixLen) return OWN;
  if (lease.attrs.publicIPv6 === null) return reject('it has no PublicIPv6, the only address an IPv6-only peer is reached at');
  return judgeIpv6Part(lease, rules);
}

function reject(why: string): LeaseVerdict {
  return { ok: false, own: false, why };
}

/** The first of `others` that overlaps `subnet` without being it: named in a warning so the operator sees the victim. */
export function overlappingLease(subnet: Ipv4Net, others: Iterable<Lease>): Lease | null {
  // Every IPv6-only lease has the same 0.0.0.0/0 half: naming one of them would be noise.
  if (isIpv6OnlySubnet(subnet)) return null;
  for (const o of others) {
    const same = o.subnet.ip === subnet.ip && o.subnet.prefixLen === subnet.prefixLen;
    if (!same && netsOverlap(o.subnet, subnet)) return o;
  }
  return null;
}
