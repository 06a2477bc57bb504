// Which subnet this host should hold, in upstream's order (flannel-compat §3): its own lease (by PublicIP) ▸ the
// previous subnet from subnet.env ▸ one of the lowest 100 free subnets, uniformly at random. Pure: no etcd here.
import type { NetworkConfig } from '../config/network-config.js';
import { formatCidr, formatIPv4, netLastIP, prefixSize, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, net6LastIP, prefixSize6, type Ipv6Net } from '../net/ipv6.js';
import { lowestFree, mergeRanges, rangesOverlap, type AddressRanges } from './free-ranges.js';
import type { Lease } from './lease.js';
import { chooseIpv6OnlySubnet } from './allocator-ipv6-only.js';

export type { AddressRanges } from './free-ranges.js';

/** Upstream collects at most this many free candidates before picking one at random. */
export const CANDIDATE_LIMIT = 100;

export type SubnetChoice = (
  | { readonly kind: 'own'; readonly lease: Lease }
  /** `ipv6Subnet` is set exactly when the config has EnableIPv6. */
  | { readonly kind: 'previous' | 'new'; readonly subnet: Ipv4Net; readonly ipv6Subnet: Ipv6Net | null }
  | { readonly kind: 'full' }
) & {
  /** Leases with our PublicIP that do not fit the config: the caller deletes them (as upstream does). */
  readonly staleOwn: readonly Lease[];
};

export interface ChooseSubnetInput {
  readonly config: NetworkConfig;
  readonly leases: readonly Lease[];
  readonly publicIP: string;
  /** Our PublicIPv6: in an IPv6-only network it, not PublicIP (0.0.0.0 for every host), finds our own lease. */
  readonly publicIPv6?: string | null;
  readonly previous: Ipv4Net | null;
  /** FLANNEL_IPV6_SUBNET of the previous run, network address form. */
  readonly previousIPv6?: Ipv6Net | null;
  /** [0, 1), like Math.random; injected so tests are deterministic. */
  readonly random: () => number;
}

/** True when a subnet is one this config could hand out: the right size, aligned, within SubnetMin..SubnetMax. */
export function subnetFitsConfig(config: NetworkConfig, subnet: Ipv4Net): boolean {
  return subnet.prefixLen === config.subnetLen
    && subnet.ip % prefixSize(config.subnetLen) === 0
    && subnet.ip >= config.subnetMin
    && subnet.ip <= config.subnetMax;
}

/**
 * The IPv6 twin of subnetFitsConfig, as upstream judges a lease's v6 part: with IPv6 off a lease fits only without
 * one (so a dual-stack lease of ours is replaced when the network goes back to IPv4-only); with IPv6 on it must have
 * one of the right size within IPv6SubnetMin..Max.
 */
export function ipv6SubnetFitsConfig(config: NetworkConfig, subnet: Ipv6Net | null | undefined): boolean {
  const v6 = config.ipv6 ?? null;
  if (v6 === null) return !subnet;
  return !!subnet
    && subnet.prefixLen === v6.subnetLen
    && subnet.ip % prefixSize6(v6.subnetLen) === 0n
    && subnet.ip >= v6.subnetMin
    && subnet.ip <= v6.subnetMax;
}

function pick<T>(free: readonly T[], random: () => number): T {
  return free[Math.min(free.length - 1, Math.floor(random() * free.length))] as T;
}

export function chooseSubnet(o: ChooseSubnetInput): SubnetChoice {
  if (!o.config.enableIPv4 && o.config.ipv6) return chooseIpv6OnlySubnet(o, { ...o.config, ipv6: o.config.ipv6 });
  const staleOwn: Lease[] = [];
  for (const lease of o.leases) {
    if (lease.attrs.publicIP !== o.publicIP) continue;
    if (subnetFitsConfig(o.config, lease.subnet) && ipv6SubnetFitsConfig(o.config, lease.ipv6Subnet)) {
      return { kind: 'own', lease, staleOwn };
    }
    staleOwn.push(lease);
  }
  // Stale own leases still count as taken: they are gone only once the caller has deleted them.
  const taken = mergedRanges(o.leases.map((l) => l.subnet));
  const v6 = o.config.ipv6 ?? null;
  const taken6 = v6 ? mergedRanges6(o.leases.flatMap((l) => (l.ipv6Subnet ? [l.ipv6Subnet] : []))) : [];
  const prev = o.previous;
  const prev6 = v6 ? o.previousIPv6 ?? null : null;
  if (prev && subnetFitsConfig(o.config, prev) && !rangesOverlap(taken, BigInt(prev.ip), BigInt(netLastIP(prev)))
    && ipv6SubnetFitsConfig(o.config, prev6)
    && (prev6 === null || !rangesOverlap(taken6, prev6.ip, net6LastIP(prev6)))) {
    return { kind: 'previous', subnet: prev, ipv6Subnet: prev6, staleOwn };
  }
  const free = lowestFreeSubnets(o.config, taken, CANDIDATE_LIMIT);
  // Upstream picks the IPv6 subnet independently of the IPv4 one, the same way.
  const free6 = v6 ? lowestFree(v6.subnetMin, v6.subnetMax, prefixSize6(v6.subnetLen), taken6, CANDIDATE_LIMIT) : [];
  if (free.length === 0 || (v6 !== null && free6.length === 0)) return { kind: 'full', staleOwn };
  const subnet = { ip: pick(free, o.random), prefixLen: o.config.subnetLen };
  const ipv6Subnet = v6 ? { ip: pick(free6, o.random), prefixLen: v6.subnetLen } : null;
  return { kind: 'new', subnet, ipv6Subnet, staleOwn };
}

/** Taken IPv4 address ranges, merged (see free-ranges.ts). */
export function mergedRanges(nets: readonly Ipv4Net[]): AddressRanges {
  return mergeRanges(nets.map((n) => [BigInt(n.ip), BigInt(netLastIP(n))] as const));
}

function mergedRanges6(nets: readonly Ipv6Net[]): AddressRanges {
  return mergeRanges(nets.map((n) => [n.ip, net6LastIP(n)] as const));
}

/** Free IPv4 subnet addresses from SubnetMin upwards, at most `limit` of them. */
export function lowestFreeSubnets(config: NetworkConfig, taken: AddressRanges, limit: number): number[] {
  return lowestFree(BigInt(config.subnetMin), BigInt(config.subnetMax), BigInt(prefixSize(config.subnetLen)), taken, limit)
    .map(Number);
}

/** For the "no free subnet" message: `10.0.1.0–10.0.255.0`. */
export function poolDescription(config: NetworkConfig): { first: number; last: number; count: number } {
  return {
    first: config.subnetMin,
    last: config.subnetMax,
    count: Math.floor((config.subnetMax - config.subnetMin) / prefixSize(config.subnetLen)) + 1,
  };
}

/** The error logged while the pool is full, with the way out. */
export function poolExhaustedMessage(config: NetworkConfig, subnetsPrefix: string): string {
  const hint = `(a lease ends when its TTL runs out, or remove a dead host's key with etcdctl del ${subnetsPrefix}/<subnet key>)`;
  if (!config.enableIPv4 && config.ipv6) {
    return `no free IPv6 subnet in IPv6Network ${formatCidr6(config.ipv6.network)}: all /${config.ipv6.subnetLen} subnets `
      + `are leased; waiting for one to free up ${hint}`;
  }
  const pool = poolDescription(config);
  const v6 = config.ipv6 ? ` or in IPv6Network ${formatCidr6(config.ipv6.network)}` : '';
  return `no free subnet in ${formatCidr(config.network)} (${formatIPv4(pool.first)}–${formatIPv4(pool.last)})${v6}: `
    + `all ${pool.count} /${config.subnetLen} subnets${v6 ? ' (or all IPv6 subnets)' : ''} are leased; waiting for one to free up `
    + hint;
}
