// Reads links, IPv4 addresses and routes through netlink and hands them to the pure choice in net/iface-select.ts.
import type { ExternalInterface } from '../net/external-interface.js';
import { parseIPv4 } from '../net/ipv4.js';
import { formatIPv6, isGlobalUnicast6, parseIPv6 } from '../net/ipv6.js';
import {
  defaultRouteLink, safeTest, selectExternalInterface, selectIPv6Address, type IfaceCandidate, type Ipv6Choice, type IfaceFacts, type IfaceWish,
} from '../net/iface-select.js';
import { listAddresses } from './addresses.js';
import { listAddresses6 } from './addresses6.js';
import { NetlinkError } from './errors.js';
import { listLinks } from './links.js';
import { getRoute, listRoutes } from './routes.js';
import { defaultRoute6Link, getRoute6 } from './routes6.js';

export { IfaceSelectionError } from '../net/iface-select.js';

async function canReach(target: string): Promise<IfaceFacts['canReach']> {
  // An IPv6 target (upstream: `ip route get` of either family) names the interface only; its addresses are then
  // chosen on it as for --iface (the route's IPv6 source is no IPv4 address).
  const ip6 = target.includes(':') ? parseIPv6(target) : null;
  const ip = ip6 === null ? parseIPv4(target) : null;
  if (ip6 === null && ip === null) return 'not an IP address: give one such as 192.0.2.1 or 2001:db8::1';
  try {
    if (ip6 !== null) {
      const route6 = await getRoute6(ip6);
      return route6.oif === null ? 'the route to it has no output interface' : { index: route6.oif, src: null };
    }
    const route = await getRoute(ip as number);
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
  /** Set with EnableIPv6: also choose the IPv6 address (see selectIPv6Address). */
  ipv6?: { publicIPv6?: string };
  /** EnableIPv4 false: no IPv4 address needed, the IPv6 default route decides (IfaceWish.ipv6Only). */
  ipv6Only?: boolean;
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
    defaultRoute: o.ipv6Only ? await defaultRoute6Link() : defaultRouteLink(routes),
    ...(reach !== undefined ? { canReach: reach } : {}),
  };
  // Dual stack: `--iface=<IPv6 address>` names the interface holding that address, whose IPv6 address it then is.
  const addrs6 = o.ipv6 ? await listAddresses6() : [];
  let address6: bigint | undefined;
  // Upstream: with no interface option and no --public-ip, --public-ipv6 names the interface holding it, as an
  // --iface would. Unlike upstream, an address no interface here holds (behind NAT) leaves the default route's choice.
  const pub6 = o.ipv6?.publicIPv6 ? parseIPv6(o.ipv6.publicIPv6) : null;
  const implied = pub6 !== null && o.iface.length === 0 && o.ifaceRegex.length === 0 && !o.ifaceCanReach && !o.publicIP
    && addrs6.some((a) => a.ip === pub6) ? [formatIPv6(pub6)] : [];
  const ifaceEntries = [...o.iface, ...implied];
  const iface = ifaceEntries.map((entry) => {
    const ip6 = entry.includes(':') ? parseIPv6(entry) : null;
    const holder = ip6 === null ? undefined : addrs6.find((a) => a.ip === ip6);
    if (ip6 === null || holder === undefined) return entry;
    address6 ??= ip6;
    return links.find((l) => l.index === holder.index)?.name ?? entry;
  });
  // IPv6-only: --iface-regex matches IPv6 addresses (upstream's ipv6Stack), which the IPv4 candidates do not hold.
  const byRegex6 = o.ipv6Only ? o.ifaceRegex.flatMap((p) => {
    const hit = addrs6.find((a) => isGlobalUnicast6(a.ip) && !a.tentative && safeTest(p, formatIPv6(a.ip)));
    const name = hit ? links.find((l) => l.index === hit.index)?.name : undefined;
    return name ? [name] : [];
  }) : [];
  const wish: IfaceWish = { ...o, iface: [...iface, ...byRegex6] };
  const chosen = selectExternalInterface(wish, facts);
  if (!o.ipv6) return chosen;
  const how: Ipv6Choice = ifaceEntries.length > 0 ? { by: 'iface', ...(address6 !== undefined ? { address: address6 } : {}) }
    : o.ifaceRegex.length > 0 ? { by: 'regex', patterns: o.ifaceRegex }
      // IPv6-only: the interface already is the IPv6 default route's.
      : o.ifaceCanReach || o.ipv6Only ? { by: 'can-reach' } : { by: 'default-route', defaultRoute6: await defaultRoute6Link() };
  const v6 = selectIPv6Address(chosen, addrs6.filter((a) => a.index === chosen.index), o.ipv6.publicIPv6, how);
  return { ...chosen, ...v6 };
}
