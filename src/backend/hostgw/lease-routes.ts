// What host-gw wants in the kernel, pure: one route per peer lease, `<subnet> via <PublicIP> dev <ext iface>`,
// and which kernel routes are ours to take away (our protocol, our device, inside the Network).
import type { ExternalInterface } from '../backend.js';
import type { Lease } from '../../subnet/lease.js';
import { netContainsNet, parseIPv4, type Ipv4Net } from '../../net/ipv4.js';
import { TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute, type RouteSpec } from '../../netlink/routes.js';
import { RT_TABLE_MAIN } from '../../netlink/codec.js';

export const HOSTGW_BACKEND_TYPE = 'host-gw';

/** The route for one peer lease; null when the lease is not host-gw's or its PublicIP is not an IPv4 address. */
export function routeForLease(lease: Lease, extIndex: number): RouteSpec | null {
  if (lease.attrs.backendType !== HOSTGW_BACKEND_TYPE) return null;
  const gateway = parseIPv4(lease.attrs.publicIP);
  if (gateway === null) return null;
  return { dst: lease.subnet, gateway, oif: extIndex, table: RT_TABLE_MAIN, protocol: TSFLANNELD_ROUTE_PROTOCOL };
}

export function routesForLeases(peers: Iterable<Lease>, extIndex: number): RouteSpec[] {
  const routes: RouteSpec[] = [];
  for (const lease of peers) {
    const route = routeForLease(lease, extIndex);
    if (route) routes.push(route);
  }
  return routes;
}

/** Ours to remove when no lease backs it: carries our protocol, leaves by the external interface, lies in Network. */
export function isOwnedHostGwRoute(route: KernelRoute, network: Ipv4Net, extIndex: number): boolean {
  return route.protocol === TSFLANNELD_ROUTE_PROTOCOL
    && route.table === RT_TABLE_MAIN
    && route.oif === extIndex
    && netContainsNet(network, route.dst);
}

/** Upstream refuses host-gw behind NAT: peers would send to an address this host does not have. */
export function natRefusal(ext: ExternalInterface): string | null {
  if (ext.extAddr === ext.ifaceAddr) return null;
  return `host-gw: the public IP ${ext.extAddr} differs from the address ${ext.ifaceAddr} of interface ${ext.name}, `
    + 'which means this host is probably behind NAT, and the host-gw backend does not support NAT: '
    + 'drop --public-ip, or use the vxlan backend';
}
