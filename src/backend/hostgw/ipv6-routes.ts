// host-gw for the IPv6 half of a dual-stack network, pure: `<peer IPv6 subnet> via <peer PublicIPv6> dev <ext>` per
// peer lease (upstream's route with PublicIPv6), and the steps that make our IPv6 routes match.
import type { Lease } from '../../subnet/lease.js';
import { formatCidr6, net6ContainsNet, parseIPv6, type Ipv6Net } from '../../net/ipv6.js';
import type { KernelRoute6, Route6Spec } from '../../netlink/routes6.js';
import { HOSTGW_BACKEND_TYPE } from './lease-routes.js';

/** The IPv6 route for one peer lease; null without an IPv6 subnet or PublicIPv6 (a v4-only peer). */
export function route6ForLease(lease: Lease, extIndex: number): Route6Spec | null {
  if (lease.attrs.backendType !== HOSTGW_BACKEND_TYPE || !lease.ipv6Subnet || !lease.attrs.publicIPv6) return null;
  const gateway = parseIPv6(lease.attrs.publicIPv6);
  return gateway === null ? null : { dst: lease.ipv6Subnet, gateway, oif: extIndex };
}

export interface Route6Plan {
  /** Install (replace whatever route the dst has). */
  readonly install: readonly Route6Spec[];
  /** Our routes inside IPv6Network that no lease backs. */
  readonly remove: readonly KernelRoute6[];
}

/** `actual`: our-protocol routes of the main table. Only routes in `network` via `extIndex` are ours to remove. */
export function planRoutes6(desired: readonly Route6Spec[], actual: readonly KernelRoute6[], network: Ipv6Net,
  extIndex: number): Route6Plan {
  const have = new Map(actual.map((r) => [formatCidr6(r.dst), r]));
  const wanted = new Set<string>();
  const install: Route6Spec[] = [];
  for (const want of desired) {
    const key = formatCidr6(want.dst);
    if (wanted.has(key)) continue;
    wanted.add(key);
    const r = have.get(key);
    if (!r || r.gateway !== (want.gateway ?? null) || r.oif !== (want.oif ?? null)) install.push(want);
  }
  const remove = actual.filter((r) => !wanted.has(formatCidr6(r.dst)) && r.oif === extIndex && net6ContainsNet(network, r.dst));
  return { install, remove };
}
