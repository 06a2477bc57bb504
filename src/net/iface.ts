// Reads links, IPv4 addresses and routes through netlink and hands them to the pure choice in ./iface-select.ts.
import type { ExternalInterface } from '../backend/backend.js';
import { listAddresses } from '../netlink/addresses.js';
import { NetlinkError } from '../netlink/errors.js';
import { listLinks } from '../netlink/links.js';
import { getRoute, listRoutes, type KernelRoute } from '../netlink/routes.js';
import { parseIPv4 } from './ipv4.js';
import { selectExternalInterface, type IfaceCandidate, type IfaceFacts, type IfaceWish } from './iface-select.js';

export { IfaceSelectionError } from './iface-select.js';

/** The main table's default route with the lowest metric, as upstream's GetDefaultGatewayInterface uses it. */
export function defaultRouteLink(routes: readonly KernelRoute[]): { index: number } | string {
  const defaults = routes
    .filter((r) => r.dst.prefixLen === 0)
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
  const first = defaults[0];
  if (!first) return 'there is no IPv4 default route: give --iface, --iface-regex or --iface-can-reach';
  if (first.oif === null) return 'the default route has no single output interface (multipath?): give --iface';
  return { index: first.oif };
}

async function canReach(target: string): Promise<IfaceFacts['canReach']> {
  const ip = parseIPv4(target);
  if (ip === null) return `not an IPv4 address: give a dotted quad such as 192.0.2.1`;
  try {
    const route = await getRoute(ip);
    return route.oif === null ? 'the route to it has no output interface' : { index: route.oif, src: route.prefsrc };
  } catch (err) {
    if (err instanceof NetlinkError && err.code === 'ENETUNREACH') return 'no route to it';
    throw err;
  }
}

export async function chooseExternalInterface(o: {
  iface: string[];
  ifaceRegex: string[];
  ifaceCanReach?: string;
  publicIP?: string;
}): Promise<ExternalInterface> {
  // One dump at a time: concurrent dumps on the shared socket interleave their multipart replies
  // ("Multipart message not terminated properly").
  const links = await listLinks();
  const addrs = await listAddresses();
  const routes = await listRoutes();
  const reach = o.ifaceCanReach ? await canReach(o.ifaceCanReach) : undefined;
  const interfaces: IfaceCandidate[] = links.map((l) => ({
    name: l.name,
    index: l.index,
    mtu: l.mtu,
    addrs: addrs.filter((a) => a.index === l.index).map((a) => a.ip),
  }));
  const facts: IfaceFacts = {
    interfaces,
    defaultRoute: defaultRouteLink(routes),
    ...(reach !== undefined ? { canReach: reach } : {}),
  };
  const wish: IfaceWish = o;
  return selectExternalInterface(wish, facts);
}
