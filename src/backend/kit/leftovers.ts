// What earlier runs of another backend left behind: flannel devices (`flannel.<VNI>` and `flannel-v6.<VNI>` of vxlan,
// `flannel0` of udp)
// and routes with our protocol that the current backend does not claim (host-gw's `<peer subnet> via <PublicIP>`
// after a switch to vxlan would bypass VXLAN). Found purely from a link and route dump, removed at start.
import type { Logger } from '../../log.js';
import { formatCidr, netContainsNet, type Ipv4Net } from '../../net/ipv4.js';
import { deleteLinkIfPresent, listLinks, type LinkInfo } from '../../netlink/links.js';
import {
  deleteRouteIfPresent, describeRoute, listRoutes, RTN_UNICAST, TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute,
} from '../../netlink/routes.js';
import { RT_TABLE_MAIN } from '../../netlink/codec.js';
import type { BackendClaims } from '../backend.js';

/** The names flannel backends give their devices (ours and upstream's alike). */
const FLANNEL_DEVICE = /^flannel(\.\d+|0|-v6\.\d+)$/;

export interface Leftovers {
  readonly devices: readonly Pick<LinkInfo, 'index' | 'name' | 'kind'>[];
  /** Routes on devices that stay; those on leftover devices go with them. */
  readonly routes: readonly KernelRoute[];
}

/** Pure: the leftovers among `links` and `routes` (main table, IPv4) for a backend with `claims` in `network`. */
export function findLeftovers(
  links: readonly Pick<LinkInfo, 'index' | 'name' | 'kind'>[], routes: readonly KernelRoute[], claims: BackendClaims,
  network: Ipv4Net,
): Leftovers {
  const claimed = new Set(claims.devices);
  const devices = links.filter((l) => FLANNEL_DEVICE.test(l.name) && !claimed.has(l.name));
  const gone = new Set(devices.map((d) => d.index));
  const kept = routes.filter((r) => r.protocol === TSFLANNELD_ROUTE_PROTOCOL && r.type === RTN_UNICAST
    && r.table === RT_TABLE_MAIN && netContainsNet(network, r.dst)
    && !(r.oif !== null && gone.has(r.oif))
    && !(r.oif !== null && links.some((l) => l.index === r.oif && claimed.has(l.name)))
    && !claims.ownsRoute(r));
  return { devices, routes: kept };
}

/** Removes the leftovers and logs each one; a failure is logged and the start goes on (it is only clutter). */
export async function removeLeftovers(claims: BackendClaims, network: Ipv4Net, log: Logger): Promise<Leftovers> {
  const found = findLeftovers(await listLinks(), await listRoutes(), claims, network);
  for (const d of found.devices) {
    await deleteLinkIfPresent(d.index).then(
      () => log.warn({ device: d.name, kind: d.kind }, 'removed a device left by another backend'),
      (err: unknown) => log.warn({ device: d.name }, `cannot remove a device left by another backend: ${(err as Error).message}`));
  }
  for (const r of found.routes) {
    await deleteRouteIfPresent(r).then(
      () => log.warn({ route: describeRoute(r), dst: formatCidr(r.dst) }, 'removed a route left by another backend'),
      (err: unknown) => log.warn({ route: describeRoute(r) }, `cannot remove a route left by another backend: ${(err as Error).message}`));
  }
  return found;
}
