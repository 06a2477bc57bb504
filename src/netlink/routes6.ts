// IPv6 routes: list, replace and delete, for host-gw's and vxlan's per-peer routes in a dual-stack network.
// The IPv4 twin (./routes.ts) carries more (lookups, onlink, blackholes); this is the part IPv6 peers need.
import { FlagsNew, rt } from 'netlink';
import { formatCidr6, formatIPv6, ip6FromBuffer, ip6ToBuffer, makeNet6, type Ipv6Net } from '../net/ipv6.js';
import { AF_INET6, enumValue, RT_TABLE_MAIN, RTNH_F_ONLINK } from './codec.js';
import { isAbsentError } from './errors.js';
import { routePayload, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, RTN_UNICAST, TSFLANNELD_ROUTE_PROTOCOL } from './routes.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

export interface Route6Spec {
  readonly dst: Ipv6Net;
  readonly gateway?: bigint | null;
  readonly oif?: number | null;
  /** Default: unicast; RTN_BLACKHOLE takes no gateway or device. */
  readonly type?: number;
  readonly priority?: number | null;
  /** RTNH_F_ONLINK: the gateway is on the link although no address says so (vxlan). */
  readonly onlink?: boolean;
}

export interface KernelRoute6 {
  readonly dst: Ipv6Net;
  readonly gateway: bigint | null;
  readonly oif: number | null;
  readonly table: number;
  readonly protocol: number;
  readonly type: number;
  readonly priority: number | null;
}

export function describeRoute6(r: Route6Spec | KernelRoute6): string {
  let text = formatCidr6(r.dst);
  if (r.gateway != null) text += ` via ${formatIPv6(r.gateway)}`;
  if (r.oif != null) text += ` dev #${r.oif}`;
  return text;
}

function fromMessage(m: rt.RouteMessage): KernelRoute6 | null {
  const { data, attrs } = m;
  if (data.family !== AF_INET6) return null;
  const dst = attrs.dst && attrs.dst.length === 16 ? ip6FromBuffer(attrs.dst) : 0n;
  return {
    dst: makeNet6(dst, data.dstLen ?? 0),
    gateway: attrs.gateway && attrs.gateway.length === 16 ? ip6FromBuffer(attrs.gateway) : null,
    oif: attrs.oif ?? null,
    table: attrs.table ?? data.table ?? 0,
    protocol: enumValue(rt.RouteProtocol, data.protocol),
    type: enumValue(rt.RouteType, data.type),
    priority: attrs.priority ?? null,
  };
}

/** An IPv6 route message (a dump's, a lookup's or a notification's); null for another family. */
export const kernelRoute6FromMessage = fromMessage;

/** The main table's IPv6 unicast routes carrying our protocol (the only ones we ever change). */
export async function listOwnRoutes6(s: RtSocket = sharedRtSocket()): Promise<KernelRoute6[]> {
  const messages = await s.dump('list IPv6 routes', (nl, o) => nl.getRoutes({ family: AF_INET6 }, {}, o));
  return messages.flatMap((m) => {
    const r = fromMessage(m);
    return r && r.table === RT_TABLE_MAIN && r.protocol === TSFLANNELD_ROUTE_PROTOCOL ? [r] : [];
  });
}

function toMessage(spec: Route6Spec, forDelete: boolean): { data: rt.Route; attrs: rt.RouteAttrs } {
  const data: rt.Route = {
    family: AF_INET6,
    dstLen: spec.dst.prefixLen,
    table: RT_TABLE_MAIN,
    protocol: TSFLANNELD_ROUTE_PROTOCOL,
    // IPv6 routes have universe scope whether or not they have a gateway.
    scope: forDelete ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE,
    type: spec.type ?? (forDelete ? 0 : RTN_UNICAST),
    flags: spec.onlink ? { __unknown: RTNH_F_ONLINK } : {},
  };
  const attrs: rt.RouteAttrs = { dst: ip6ToBuffer(spec.dst.ip), table: RT_TABLE_MAIN };
  if (spec.gateway != null) attrs.gateway = ip6ToBuffer(spec.gateway);
  if (spec.oif != null) attrs.oif = spec.oif;
  if (spec.priority != null) attrs.priority = spec.priority;
  return { data, attrs };
}

/** Installs the route in place of any route to the same dst and metric. */
export async function replaceRoute6(spec: Route6Spec, s: RtSocket = sharedRtSocket()): Promise<void> {
  await s.batched(`replace route ${describeRoute6(spec)}`, { type: rt.MessageType.NEWROUTE,
    flags: FlagsNew.CREATE | FlagsNew.REPLACE, data: routePayload(toMessage(spec, false)), query: false });
}

/** Deletes our route to the dst; false when there was none. */
export async function deleteRoute6IfPresent(spec: Route6Spec, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await s.batched(`delete route ${describeRoute6(spec)}`, { type: rt.MessageType.DELROUTE, flags: 0,
      data: routePayload(toMessage(spec, true)), query: false });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** `ip -6 route get <dst>`: the route the kernel would use (DirectRouting asks whether it has a gateway). */
export async function getRoute6(dst: bigint, s: RtSocket = sharedRtSocket()): Promise<KernelRoute6> {
  const reply = await s.batched(`route lookup ${formatIPv6(dst)}`, { type: rt.MessageType.GETROUTE, flags: 0,
    data: routePayload({ data: { family: AF_INET6, dstLen: 128 }, attrs: { dst: ip6ToBuffer(dst) } }), query: true });
  const message = reply ? rt.parseMessage(reply.type, reply.data) : null;
  const route = message?.kind === 'route' ? fromMessage(message) : null;
  if (!route) throw new Error(`route lookup ${formatIPv6(dst)}: the kernel returned no IPv6 route`);
  return route;
}

/** The link of the main table's IPv6 default route with the lowest metric, or why there is none. */
export async function defaultRoute6Link(s: RtSocket = sharedRtSocket()): Promise<{ index: number } | string> {
  const messages = await s.dump('list IPv6 routes', (nl, o) => nl.getRoutes({ family: AF_INET6 }, {}, o));
  const defaults = messages.flatMap((m) => {
    const r = fromMessage(m);
    return r && r.table === RT_TABLE_MAIN && r.dst.prefixLen === 0 && r.type === RTN_UNICAST ? [r] : [];
  }).sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
  const first = defaults[0];
  if (!first) return 'there is no IPv6 default route';
  return first.oif === null ? 'the IPv6 default route has no single output interface' : { index: first.oif };
}
