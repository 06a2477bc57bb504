// IPv4 routes: list (filtered by table / device / protocol), replace, delete if present, and route lookup.
import { AttrStream, FlagsNew, rt } from 'netlink';
import { formatCidr, formatIPv4, ipFromBuffer, ipToBuffer, makeNet, type Ipv4Net } from '../net/ipv4.js';
import { AF_INET, enumValue, RT_TABLE_MAIN, RTNH_F_ONLINK } from './codec.js';
import { isAbsentError, NetlinkError } from './errors.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

/**
 * rtm_protocol of every route tsflanneld installs (`ip route` shows `proto 84`). It is how we tell our routes from
 * everyone else's: cleanup only ever removes routes carrying it. Not in iproute2's rt_protos registry.
 */
export const TSFLANNELD_ROUTE_PROTOCOL: number = 0x54;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
export const RTN_UNICAST = 1;
export const RTN_BLACKHOLE = 6;
/** The largest metric: a route with it yields to every other route to the same destination. */
export const LOWEST_PRIORITY_METRIC = 0xffffffff;

/** A route to install or delete. IPs are uint32. */
export interface RouteSpec {
  readonly dst: Ipv4Net;
  readonly gateway?: number | null;
  /** Output link index. */
  readonly oif?: number | null;
  /** Default: main (254). */
  readonly table?: number;
  /** Default: TSFLANNELD_ROUTE_PROTOCOL. */
  readonly protocol?: number;
  /** Default: link for a unicast route without a gateway, universe otherwise (as `ip route` does). */
  readonly scope?: number;
  /** Default: unicast (RTN_UNICAST); RTN_BLACKHOLE drops what it matches and takes no gateway or device. */
  readonly type?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even if no address says so (vxlan). */
  readonly onlink?: boolean;
  /** Metric. */
  readonly priority?: number | null;
  /** Preferred source address. */
  readonly prefsrc?: number | null;
}

/** A route as the kernel reports it. */
export interface KernelRoute {
  readonly dst: Ipv4Net;
  readonly gateway: number | null;
  readonly oif: number | null;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  readonly onlink: boolean;
  readonly priority: number | null;
  readonly prefsrc: number | null;
}

export interface RouteFilter {
  /** Default: main. `'all'` keeps every table (local, default, …). */
  readonly table?: number | 'all';
  readonly oif?: number;
  readonly protocol?: number;
  /** Default: unicast only. `'all'` keeps local, broadcast, blackhole, … */
  readonly type?: number | 'all';
}

export function describeRoute(r: RouteSpec | KernelRoute): string {
  let text = r.type === RTN_BLACKHOLE ? `blackhole ${formatCidr(r.dst)}` : formatCidr(r.dst);
  if (r.gateway != null) text += ` via ${formatIPv4(r.gateway)}`;
  if (r.oif != null) text += ` dev #${r.oif}`;
  if (r.onlink) text += ' onlink';
  if (r.table !== undefined && r.table !== RT_TABLE_MAIN) text += ` table ${r.table}`;
  return text;
}

export function kernelRouteFromMessage(m: rt.RouteMessage): KernelRoute | null {
  const { data, attrs } = m;
  if (data.family !== AF_INET) return null;
  const dstLen = data.dstLen ?? 0;
  const dst = attrs.dst && attrs.dst.length === 4 ? ipFromBuffer(attrs.dst) : 0;
  return {
    dst: makeNet(dst, dstLen),
    gateway: attrs.gateway && attrs.gateway.length === 4 ? ipFromBuffer(attrs.gateway) : null,
    oif: attrs.oif ?? null,
    table: attrs.table ?? data.table ?? 0,
    protocol: enumValue(rt.RouteProtocol, data.protocol),
    scope: enumValue(rt.RouteScope, data.scope),
    type: enumValue(rt.RouteType, data.type),
    // The kernel reports next-hop flags (onlink, linkdown, dead) in rtm_flags of a single-path route.
    onlink: ((data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
    priority: attrs.priority ?? null,
    prefsrc: attrs.prefsrc && attrs.prefsrc.length === 4 ? ipFromBuffer(attrs.prefsrc) : null,
  };
}

export function routeMatchesFilter(r: KernelRoute, f: RouteFilter = {}): boolean {
  const table = f.table ?? RT_TABLE_MAIN;
  const type = f.type ?? RTN_UNICAST;
  return (table === 'all' || r.table === table)
    && (type === 'all' || r.type === type)
    && (f.oif === undefined || r.oif === f.oif)
    && (f.protocol === undefined || r.protocol === f.protocol);
}

export async function listRoutes(filter: RouteFilter = {}, s: RtSocket = sharedRtSocket()): Promise<KernelRoute[]> {
  const messages = await s.dump('list routes', (nl, o) => nl.getRoutes({ family: AF_INET }, {}, o));
  return messages.flatMap((m) => {
    const r = kernelRouteFromMessage(m);
    return r && routeMatchesFilter(r, filter) ? [r] : [];
  });
}

function toMessage(spec: RouteSpec, forDelete: boolean): { data: rt.Route; attrs: rt.RouteAttrs } {
  const table = spec.table ?? RT_TABLE_MAIN;
  const gateway = spec.gateway ?? null;
  const type = spec.type ?? (forDelete ? 0 : RTN_UNICAST);
  const defaultScope = forDelete ? RT_SCOPE_NOWHERE
    : gateway === null && type === RTN_UNICAST ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const data: rt.Route = {
    family: AF_INET,
    dstLen: spec.dst.prefixLen,
    table: table < 256 ? table : 252, // RT_TABLE_COMPAT: the real id travels in RTA_TABLE
    protocol: spec.protocol ?? (forDelete ? 0 : TSFLANNELD_ROUTE_PROTOCOL),
    scope: spec.scope ?? defaultScope,
    type,
    flags: spec.onlink ? { __unknown: RTNH_F_ONLINK } : {},
  };
  const attrs: rt.RouteAttrs = { dst: ipToBuffer(spec.dst.ip), table };
  if (gateway !== null) attrs.gateway = ipToBuffer(gateway);
  if (spec.oif != null) attrs.oif = spec.oif;
  if (spec.priority != null) attrs.priority = spec.priority;
  if (spec.prefsrc != null) attrs.prefsrc = ipToBuffer(spec.prefsrc);
  return { data, attrs };
}

/** The payload of a route message (rtmsg and attributes). */
export function routePayload(message: { data: rt.Route; attrs: rt.RouteAttrs }): Uint8Array[] {
  const stream = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', ...message }, stream);
  return stream.bufs;
}

/** Installs the route, replacing one to the same dst (same table and metric) whatever its gateway or device. */
export async function replaceRoute(spec: RouteSpec, s: RtSocket = sharedRtSocket()): Promise<void> {
  await s.batched(`replace route ${describeRoute(spec)}`, { type: rt.MessageType.NEWROUTE,
    flags: FlagsNew.CREATE | FlagsNew.REPLACE, data: routePayload(toMessage(spec, false)), query: false });
}

/**
 * The route of --ip-blackhole-route: what is sent to `subnet` and matches no other route is dropped instead of
 * leaving by the default route. With the largest metric it never hides the bridge's own route to the subnet (a
 * blackhole with metric 0 added before the bridge gets its address would), and replacing it is idempotent.
 */
export function blackholeRouteSpec(subnet: Ipv4Net): RouteSpec {
  return { dst: subnet, type: RTN_BLACKHOLE, priority: LOWEST_PRIORITY_METRIC };
}

/**
 * Deletes the route; false when none matched. Unset fields match anything, so pass protocol (e.g. ours) to
 * delete only a route carrying it, and gateway/oif to delete only that next hop.
 */
export async function deleteRouteIfPresent(spec: RouteSpec, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await s.batched(`delete route ${describeRoute(spec)}`, { type: rt.MessageType.DELROUTE, flags: 0,
      data: routePayload(toMessage(spec, true)), query: false });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** `ip route get <dst>`: the route the kernel would use. Rejects with ENETUNREACH when there is none. */
export async function getRoute(dst: number, s: RtSocket = sharedRtSocket()): Promise<KernelRoute> {
  const reply = await s.batched(`route lookup ${formatIPv4(dst)}`, { type: rt.MessageType.GETROUTE, flags: 0,
    data: routePayload({ data: { family: AF_INET, dstLen: 32 }, attrs: { dst: ipToBuffer(dst) } }), query: true });
  const message = reply ? rt.parseMessage(reply.type, reply.data) : null;
  const route = message?.kind === 'route' ? kernelRouteFromMessage(message) : null;
  if (!route) throw new NetlinkError('EUNKNOWN', `route lookup ${formatIPv4(dst)}`, 'the kernel returned no IPv4 route');
  return route;
}
