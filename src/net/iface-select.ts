// Choosing the external interface from what the kernel reported, pure. Upstream's order (flannel-compat §9):
// every --iface (a name or an IP), then every --iface-regex (against IPs first, then names), then
// --iface-can-reach (the interface the kernel routes that IP through); with none of these, the default-route
// interface. Unlike upstream, a kind of option that finds nothing falls through to the next kind given.
import type { ExternalInterface } from './external-interface.js';
import { formatIPv4, netContainsIP, parseCidr, parseIPv4 } from './ipv4.js';
import { formatIPv6, isGlobalUnicast6, parseIPv6 } from './ipv6.js';

export interface IfaceCandidate {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** IPv4 addresses (uint32) in the kernel's order. */
  readonly addrs: readonly number[];
}

export interface IfaceFacts {
  readonly interfaces: readonly IfaceCandidate[];
  /** Link index of the main table's default route; a string says why there is none. */
  readonly defaultRoute: { readonly index: number } | string;
  /** Result of the route lookup for --iface-can-reach (only when it was given); a string says why it failed. */
  readonly canReach?: { readonly index: number; readonly src: number | null } | string;
}

export interface IfaceWish {
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach?: string;
  readonly publicIP?: string;
  /**
   * An IPv6-only network (EnableIPv4 false): the interface needs no IPv4 address, `defaultRoute` is the IPv6 one, and
   * the IPv4 fields are 0.0.0.0, what upstream publishes as PublicIP in that mode.
   */
  readonly ipv6Only?: boolean;
}

export class IfaceSelectionError extends Error {
  override readonly name = 'IfaceSelectionError';
}

const LOOPBACK = parseCidr('127.0.0.0/8')!;
const LINK_LOCAL = parseCidr('169.254.0.0/16')!;
const MULTICAST_AND_UP = parseCidr('224.0.0.0/3')!;
const THIS_NET = parseCidr('0.0.0.0/8')!;

/**
 * The addresses flannel may use, in upstream's preference: global unicast first, link-local after,
 * loopback / multicast / unspecified never.
 */
export function usableAddrs(addrs: readonly number[]): number[] {
  const global = addrs.filter((a) => ![LOOPBACK, LINK_LOCAL, MULTICAST_AND_UP, THIS_NET].some((n) => netContainsIP(n, a)));
  const linkLocal = addrs.filter((a) => netContainsIP(LINK_LOCAL, a));
  return [...global, ...linkLocal];
}

type Pick = { readonly iface: IfaceCandidate; readonly addr: number | null } | { readonly miss: string };

function byNameOrIP(facts: IfaceFacts, wanted: string): Pick {
  const ip = parseIPv4(wanted);
  if (ip !== null) {
    const iface = facts.interfaces.find((i) => usableAddrs(i.addrs).includes(ip));
    return iface ? { iface, addr: ip } : { miss: `--iface=${wanted}: no interface has this address` };
  }
  const iface = facts.interfaces.find((i) => i.name === wanted);
  return iface ? { iface, addr: null } : { miss: `--iface=${wanted}: no interface has this name` };
}

function byRegex(facts: IfaceFacts, pattern: string): Pick {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    return { miss: `--iface-regex=${pattern}: not a valid regular expression (${(err as Error).message})` };
  }
  for (const iface of facts.interfaces) {
    const addr = usableAddrs(iface.addrs).find((a) => re.test(formatIPv4(a)));
    if (addr !== undefined) return { iface, addr };
  }
  const iface = facts.interfaces.find((i) => re.test(i.name));
  return iface ? { iface, addr: null } : { miss: `--iface-regex=${pattern}: matches no interface address or name` };
}

function byRoute(facts: IfaceFacts, what: string, route: { index: number; src?: number | null } | string | undefined): Pick {
  if (route === undefined) return { miss: `${what}: no route lookup was made` };
  if (typeof route === 'string') return { miss: `${what}: ${route}` };
  const iface = facts.interfaces.find((i) => i.index === route.index);
  if (!iface) return { miss: `${what}: routes through link #${route.index}, which is not listed` };
  return { iface, addr: route.src ?? null };
}

function describeInterfaces(facts: IfaceFacts): string {
  if (facts.interfaces.length === 0) return 'none';
  return facts.interfaces
    .map((i) => `${i.name} (${i.addrs.length ? i.addrs.map(formatIPv4).join(', ') : 'no IPv4'})`)
    .join(', ');
}

/** Applies the options to the facts; throws IfaceSelectionError with one line naming every option tried. */
export function selectExternalInterface(wish: IfaceWish, facts: IfaceFacts): ExternalInterface {
  let publicIP: number | null = null;
  if (wish.publicIP && !wish.ipv6Only) {
    publicIP = parseIPv4(wish.publicIP);
    if (publicIP === null) {
      throw new IfaceSelectionError(`--public-ip=${wish.publicIP} is not an IPv4 address: give a dotted quad such as 192.0.2.10`);
    }
  }

  const attempts: Array<() => Pick> = [
    ...wish.iface.map((name) => () => byNameOrIP(facts, name)),
    ...wish.ifaceRegex.map((pattern) => () => byRegex(facts, pattern)),
  ];
  if (wish.ifaceCanReach) attempts.push(() => byRoute(facts, `--iface-can-reach=${wish.ifaceCanReach}`, facts.canReach));
  if (attempts.length === 0) attempts.push(() => byRoute(facts, 'default route', facts.defaultRoute));

  const misses: string[] = [];
  for (const attempt of attempts) {
    const pick = attempt();
    if ('miss' in pick) {
      misses.push(pick.miss);
      continue;
    }
    const { iface } = pick;
    const addr = wish.ipv6Only ? 0 : pick.addr ?? usableAddrs(iface.addrs)[0];
    if (addr === undefined) {
      misses.push(`${iface.name} has no usable IPv4 address`);
      continue;
    }
    if (!(iface.mtu > 0)) {
      misses.push(`${iface.name}: MTU unknown`);
      continue;
    }
    return {
      name: iface.name,
      index: iface.index,
      mtu: iface.mtu,
      ifaceAddr: formatIPv4(addr),
      extAddr: formatIPv4(publicIP ?? addr),
    };
  }
  throw new IfaceSelectionError(`no usable interface: ${misses.join('; ')}; interfaces seen: ${describeInterfaces(facts)}`);
}

/** The subset of a kernel route the default-route choice reads (net/ knows no netlink types). */
export interface RouteFacts {
  readonly dst: { readonly prefixLen: number };
  readonly priority?: number | null;
  readonly oif: number | null;
}

/** The main table's default route with the lowest metric, as upstream's GetDefaultGatewayInterface uses it. */
export function defaultRouteLink(routes: readonly RouteFacts[]): { index: number } | string {
  const defaults = routes
    .filter((r) => r.dst.prefixLen === 0)
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
  const first = defaults[0];
  if (!first) return 'there is no IPv4 default route: give --iface, --iface-regex or --iface-can-reach';
  if (first.oif === null) return 'the default route has no single output interface (multipath?): give --iface';
  return { index: first.oif };
}

/** How the interface was chosen, which decides how upstream picks its IPv6 address in a dual-stack network. */
export type Ipv6Choice =
  | { readonly by: 'iface'; readonly address?: bigint }
  | { readonly by: 'can-reach' }
  | { readonly by: 'regex'; readonly patterns: readonly string[] }
  | { readonly by: 'default-route'; readonly defaultRoute6: { readonly index: number } | string };

/**
 * The IPv6 half of the choice, made on the interface already chosen (upstream uses one interface for both
 * families): its first global unicast address that is past duplicate address detection (with --iface-regex, the
 * first that matches a pattern, as upstream matches both families); by default route, the IPv6 default route must
 * leave by the same interface. --public-ipv6 overrides what peers send to. Throws IfaceSelectionError with the fix.
 */
export function selectIPv6Address(iface: ExternalInterface, addrs: ReadonlyArray<{ ip: bigint; tentative: boolean }>,
  publicIPv6?: string, how: Ipv6Choice = { by: 'iface' }): { ifaceAddr6: string | null; extAddr6: string } {
  let pub: bigint | null = null;
  if (publicIPv6) {
    pub = parseIPv6(publicIPv6);
    if (pub === null) throw new IfaceSelectionError(`--public-ipv6=${publicIPv6} is not an IPv6 address: give one such as 2001:db8::10`);
  }
  if (how.by === 'default-route') {
    const d = how.defaultRoute6;
    if (typeof d === 'string') {
      throw new IfaceSelectionError(`${d} (EnableIPv6 chooses the interface of both default routes): give --iface`);
    }
    if (d.index !== iface.index) {
      throw new IfaceSelectionError(`the IPv6 default route leaves by link #${d.index}, the IPv4 one by ${iface.name}; `
        + 'a dual-stack node uses one interface: give --iface');
    }
  }
  const usable = addrs.filter((a) => isGlobalUnicast6(a.ip) && !a.tentative).map((a) => formatIPv6(a.ip));
  const wanted = how.by === 'iface' && how.address !== undefined ? formatIPv6(how.address) : null;
  const matching = how.by === 'regex' ? usable.filter((a) => how.patterns.some((p) => safeTest(p, a)))
    : wanted !== null ? usable.filter((a) => a === wanted) : usable;
  const ifaceAddr6 = matching[0] ?? null;
  if (pub !== null) return { ifaceAddr6, extAddr6: formatIPv6(pub) };
  if (ifaceAddr6 === null) {
    const what = how.by === 'regex' ? 'global IPv6 address matching --iface-regex' : 'global IPv6 address';
    throw new IfaceSelectionError(`${iface.name} has no ${what} (EnableIPv6 is set): add one to it, `
      + 'choose another interface with --iface, or give --public-ipv6');
  }
  return { ifaceAddr6, extAddr6: ifaceAddr6 };
}

/** A user's pattern against a text; a pattern that does not compile matches nothing. */
export function safeTest(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return false;
  }
}
