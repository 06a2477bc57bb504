// The subnet choice of an IPv6-only network (EnableIPv4 false), in upstream's order: our own lease ▸ the previous
// IPv6 subnet from subnet.env ▸ one of the lowest 100 free IPv6 subnets at random. Every key there has the IPv4
// half 0.0.0.0-0 and every value PublicIP 0.0.0.0, so our own lease is the one with our PublicIPv6: upstream matches
// by PublicIP, which in this mode would hand one node's lease to the next (flannel-compat: a deliberate fix). Pure.
import { net6LastIP, prefixSize6, parseIPv6 } from '../net/ipv6.js';
import type { Ipv6NetworkConfig, NetworkConfig } from '../config/network-config.js';
import type { ChooseSubnetInput, SubnetChoice } from './allocator.js';
import { NO_IPV4_SUBNET, isIpv6OnlySubnet } from './codec.js';
import { lowestFree, mergeRanges, rangesOverlap } from './free-ranges.js';
import type { Lease } from './lease.js';

/** True when a lease of ours still fits an IPv6-only config: no IPv4 half, an IPv6 one of the right size in range. */
function fitsIpv6Only(v6: Ipv6NetworkConfig, lease: Pick<Lease, 'subnet' | 'ipv6Subnet'>): boolean {
  const s = lease.ipv6Subnet;
  return isIpv6OnlySubnet(lease.subnet) && !!s && s.prefixLen === v6.subnetLen
    && s.ip % prefixSize6(v6.subnetLen) === 0n && s.ip >= v6.subnetMin && s.ip <= v6.subnetMax;
}

/** Whether `lease` was written by the host with this PublicIPv6 (addresses compared, not spellings). */
export function isOwnIpv6OnlyLease(lease: Lease, publicIPv6: string | null | undefined): boolean {
  const mine = publicIPv6 ? parseIPv6(publicIPv6) : null;
  const theirs = lease.attrs.publicIPv6 ? parseIPv6(lease.attrs.publicIPv6) : null;
  return mine !== null && mine === theirs;
}

export function chooseIpv6OnlySubnet(o: ChooseSubnetInput, config: NetworkConfig & { ipv6: Ipv6NetworkConfig }): SubnetChoice {
  const v6 = config.ipv6;
  const staleOwn: Lease[] = [];
  for (const lease of o.leases) {
    if (!isOwnIpv6OnlyLease(lease, o.publicIPv6)) continue;
    if (fitsIpv6Only(v6, lease)) return { kind: 'own', lease, staleOwn };
    staleOwn.push(lease);
  }
  const taken = mergeRanges(o.leases.flatMap((l) => (l.ipv6Subnet ? [[l.ipv6Subnet.ip, net6LastIP(l.ipv6Subnet)] as const] : [])));
  const prev = o.previousIPv6 ?? null;
  if (prev && fitsIpv6Only(v6, { subnet: NO_IPV4_SUBNET, ipv6Subnet: prev }) && !rangesOverlap(taken, prev.ip, net6LastIP(prev))) {
    return { kind: 'previous', subnet: NO_IPV4_SUBNET, ipv6Subnet: prev, staleOwn };
  }
  const free = lowestFree(v6.subnetMin, v6.subnetMax, prefixSize6(v6.subnetLen), taken, 100);
  if (free.length === 0) return { kind: 'full', staleOwn };
  const ip = free[Math.min(free.length - 1, Math.floor(o.random() * free.length))] as bigint;
  return { kind: 'new', subnet: NO_IPV4_SUBNET, ipv6Subnet: { ip, prefixLen: v6.subnetLen }, staleOwn };
}
