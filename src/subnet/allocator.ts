// Which subnet this host should hold, in upstream's order (flannel-compat §3): its own lease (by PublicIP) ▸ the
// previous subnet from subnet.env ▸ one of the lowest 100 free subnets, uniformly at random. Pure: no etcd here.
import type { NetworkConfig } from '../config/network-config.js';
import { netLastIP, prefixSize, type Ipv4Net } from '../net/ipv4.js';
import type { Lease } from './lease.js';

/** Upstream collects at most this many free candidates before picking one at random. */
export const CANDIDATE_LIMIT = 100;

export type SubnetChoice = (
  | { readonly kind: 'own'; readonly lease: Lease }
  | { readonly kind: 'previous' | 'new'; readonly subnet: Ipv4Net }
  | { readonly kind: 'full' }
) & {
  /** Leases with our PublicIP that do not fit the config: the caller deletes them (as upstream does). */
  readonly staleOwn: readonly Lease[];
};

export interface ChooseSubnetInput {
  readonly config: NetworkConfig;
  readonly leases: readonly Lease[];
  readonly publicIP: string;
  readonly previous: Ipv4Net | null;
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

export function chooseSubnet(o: ChooseSubnetInput): SubnetChoice {
  const staleOwn: Lease[] = [];
  for (const lease of o.leases) {
    if (lease.attrs.publicIP !== o.publicIP) continue;
    if (subnetFitsConfig(o.config, lease.subnet)) return { kind: 'own', lease, staleOwn };
    staleOwn.push(lease);
  }
  // Stale own leases still count as taken: they are gone only once the caller has deleted them.
  const taken = mergedRanges(o.leases.map((l) => l.subnet));
  if (o.previous && subnetFitsConfig(o.config, o.previous) && !overlapsAny(taken, o.previous)) {
    return { kind: 'previous', subnet: o.previous, staleOwn };
  }
  const free = lowestFreeSubnets(o.config, taken, CANDIDATE_LIMIT);
  if (free.length === 0) return { kind: 'full', staleOwn };
  const index = Math.min(free.length - 1, Math.floor(o.random() * free.length));
  return { kind: 'new', subnet: { ip: free[index] as number, prefixLen: o.config.subnetLen }, staleOwn };
}

/** Inclusive [first, last] address ranges, sorted by first address, overlapping or touching ranges merged. */
export type AddressRanges = ReadonlyArray<readonly [number, number]>;

export function mergedRanges(nets: readonly Ipv4Net[]): AddressRanges {
  const ranges = nets.map((n) => [n.ip, netLastIP(n)] as [number, number]).sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

function overlapsAny(taken: AddressRanges, net: Ipv4Net): boolean {
  const first = net.ip;
  const last = netLastIP(net);
  return taken.some(([a, b]) => a <= last && first <= b);
}

/**
 * Free subnet addresses from SubnetMin upwards, at most `limit` of them. Jumps over each taken range instead of
 * testing every candidate, so a /8 pool with thousands of leases costs O(leases + limit).
 */
export function lowestFreeSubnets(config: NetworkConfig, taken: AddressRanges, limit: number): number[] {
  const size = prefixSize(config.subnetLen);
  const free: number[] = [];
  let candidate = config.subnetMin;
  let i = 0;
  while (candidate <= config.subnetMax && free.length < limit) {
    while (i < taken.length && (taken[i] as readonly [number, number])[1] < candidate) i++;
    const range = taken[i];
    if (range && range[0] <= candidate + size - 1) {
      // Overlaps: continue at the first aligned address after the taken range.
      candidate = Math.ceil((range[1] + 1) / size) * size;
      continue;
    }
    free.push(candidate);
    candidate += size;
  }
  return free;
}

/** For the "no free subnet" message: `10.0.1.0–10.0.255.0`. */
export function poolDescription(config: NetworkConfig): { first: number; last: number; count: number } {
  return {
    first: config.subnetMin,
    last: config.subnetMax,
    count: Math.floor((config.subnetMax - config.subnetMin) / prefixSize(config.subnetLen)) + 1,
  };
}
