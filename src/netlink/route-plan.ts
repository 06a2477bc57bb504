// Reconcile planning, pure: what we want (one route per destination) against what the kernel has → the steps that
// make the kernel match. Shared by every backend that owns routes (host-gw; vxlan kernel for its onlink routes).
import { formatCidr, netsEqual } from '../net/ipv4.js';
import { RT_TABLE_MAIN } from './codec.js';
import {
  RTN_UNICAST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute, type RouteSpec,
} from './routes.js';

export interface RoutePlanInput {
  /** At most one route per destination; later duplicates are ignored. */
  readonly desired: readonly RouteSpec[];
  /** The kernel's routes (e.g. the main table's unicast routes). */
  readonly actual: readonly KernelRoute[];
  /** Routes that are ours to remove when nothing desired backs them (e.g. our protocol, our device, in the Network). */
  readonly owned: (route: KernelRoute) => boolean;
}

export interface RoutePlan {
  /** Desired routes with no route to their destination in the kernel. */
  readonly add: readonly RouteSpec[];
  /** Desired routes whose destination has a different route: install ours in its place. */
  readonly replace: ReadonlyArray<{ readonly want: RouteSpec; readonly have: KernelRoute }>;
  /** Owned routes no desired route backs. */
  readonly remove: readonly KernelRoute[];
  /** Desired routes already in place. */
  readonly unchanged: number;
}

/** The dst as a map key. */
export function dstKey(r: RouteSpec | KernelRoute): string {
  return formatCidr(r.dst);
}

/** True when the kernel route is exactly what `want` would install (fields left unset take their defaults). */
export function routeSatisfies(have: KernelRoute, want: RouteSpec): boolean {
  const gateway = want.gateway ?? null;
  const scope = want.scope ?? (gateway === null ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  return netsEqual(have.dst, want.dst)
    && have.gateway === gateway
    && (want.oif == null || have.oif === want.oif)
    && have.table === (want.table ?? RT_TABLE_MAIN)
    && have.protocol === (want.protocol ?? TSFLANNELD_ROUTE_PROTOCOL)
    && have.scope === scope
    && have.type === (want.type ?? RTN_UNICAST)
    && have.onlink === (want.onlink ?? false)
    && (want.priority == null || have.priority === want.priority);
}

export function planRoutes(input: RoutePlanInput): RoutePlan {
  const desired = new Map<string, RouteSpec>();
  for (const want of input.desired) if (!desired.has(dstKey(want))) desired.set(dstKey(want), want);

  const actualByDst = new Map<string, KernelRoute[]>();
  for (const have of input.actual) {
    const key = dstKey(have);
    const list = actualByDst.get(key);
    if (list) list.push(have);
    else actualByDst.set(key, [have]);
  }

  const add: RouteSpec[] = [];
  const replace: Array<{ want: RouteSpec; have: KernelRoute }> = [];
  let unchanged = 0;
  for (const [key, want] of desired) {
    const table = want.table ?? RT_TABLE_MAIN;
    const candidates = (actualByDst.get(key) ?? []).filter((r) => r.table === table);
    if (candidates.some((have) => routeSatisfies(have, want))) unchanged++;
    else if (candidates[0]) replace.push({ want, have: candidates[0] });
    else add.push(want);
  }

  const remove = input.actual.filter((have) => input.owned(have) && !desired.has(dstKey(have)));
  return { add, replace, remove, unchanged };
}
