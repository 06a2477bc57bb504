// Pure: the kernel entries each programmed peer needs, compared with what the kernel holds on the flannel device:
// which peers to reprogram and which entries no lease backs any more. Routes go through the shared route planner.
import { formatIPv4, requireIPv4 } from '../../net/ipv4.js';
import type { ArpEntry, FdbEntry } from '../../netlink/neighbours.js';
import { planRoutes, dstKey } from '../../netlink/route-plan.js';
import type { KernelRoute, RouteSpec } from '../../netlink/routes.js';
import type { VxlanPeer } from './peers.js';

/** Upstream's routes carry RTPROT_BOOT (vishvananda/netlink's default), so `ip route` shows no `proto`. */
export const RTPROT_BOOT = 3;

export interface ProgrammedPeer {
  readonly peer: VxlanPeer;
  /** DirectRouting applied: a plain route via the PublicIP, no ARP/FDB. */
  readonly direct: boolean;
}

export interface KernelSnapshot {
  /** ARP entries on the flannel device. */
  readonly arp: readonly ArpEntry[];
  /** FDB entries of the flannel device. */
  readonly fdb: readonly FdbEntry[];
  /** IPv4 unicast routes of the main table (all devices, so direct routes are seen too). */
  readonly routes: readonly KernelRoute[];
}

export interface StaleFdb {
  readonly mac: string;
  readonly dst: number;
}

export interface ResyncPlan {
  /** Keys of peers with a missing or wrong entry. */
  readonly reprogram: string[];
  readonly staleArp: number[];
  readonly staleFdb: StaleFdb[];
  readonly staleRoutes: KernelRoute[];
}

/**
 * The peer's route as upstream installs it: `<subnet> via <subnet address> dev flannel.N onlink`, or with
 * DirectRouting `<subnet> via <PublicIP>` (the kernel picks the device).
 */
export function peerRoute(p: ProgrammedPeer, deviceIndex: number): RouteSpec {
  return p.direct
    ? { dst: p.peer.subnet, gateway: requireIPv4(p.peer.publicIP), protocol: RTPROT_BOOT }
    : { dst: p.peer.subnet, gateway: requireIPv4(p.peer.subnetIP), oif: deviceIndex, onlink: true, protocol: RTPROT_BOOT };
}

/** The snapshot's neighbour entries as lookup sets, so checking 1000 peers is not 1000 scans of 1000 entries. */
interface NeighbourIndex {
  /** `<ip>@<mac>` of the permanent ARP entries. */
  readonly arp: ReadonlySet<string>;
  /** `<mac>@<VTEP ip>` of the FDB entries. */
  readonly fdb: ReadonlySet<string>;
}

function indexNeighbours(k: KernelSnapshot): NeighbourIndex {
  return {
    arp: new Set(k.arp.filter((a) => a.permanent).map((a) => `${a.ip}@${a.mac}`)),
    fdb: new Set(k.fdb.flatMap((f) => (f.dst === null ? [] : [`${f.mac}@${f.dst}`]))),
  };
}

function neighboursIntact(p: ProgrammedPeer, k: NeighbourIndex): boolean {
  if (p.direct) return true;
  return k.arp.has(`${requireIPv4(p.peer.subnetIP)}@${p.peer.vtepMac}`)
    && k.fdb.has(`${p.peer.vtepMac}@${requireIPv4(p.peer.publicIP)}`);
}

/**
 * `removeStale` only once the complete set of peers is known (after the first list of leases): before that an
 * entry of a peer not yet seen would look stale. Entries that are not permanent (the kernel's own) are left alone,
 * and only routes on the flannel device count as ours.
 */
export function planVxlanResync(
  peers: ReadonlyMap<string, ProgrammedPeer>,
  deviceIndex: number,
  k: KernelSnapshot,
  removeStale: boolean,
): ResyncPlan {
  const routes = planRoutes({
    desired: [...peers.values()].map((p) => peerRoute(p, deviceIndex)),
    actual: k.routes,
    owned: (r) => removeStale && r.oif === deviceIndex,
  });
  const badRoutes = new Set([...routes.add.map(dstKey), ...routes.replace.map((r) => dstKey(r.want))]);
  const neighbours = indexNeighbours(k);
  const reprogram = [...peers].filter(([key, p]) => badRoutes.has(key) || !neighboursIntact(p, neighbours)).map(([key]) => key);
  if (!removeStale) return { reprogram, staleArp: [], staleFdb: [], staleRoutes: [] };
  const overlay = [...peers.values()].filter((p) => !p.direct).map((p) => p.peer);
  const wantedArp = new Set(overlay.map((p) => requireIPv4(p.subnetIP)));
  const wantedFdb = new Set(overlay.map((p) => `${p.vtepMac}@${p.publicIP}`));
  return {
    reprogram,
    staleArp: k.arp.filter((a) => a.permanent && !wantedArp.has(a.ip)).map((a) => a.ip),
    staleFdb: k.fdb.flatMap((f) => (f.permanent && f.dst !== null && !wantedFdb.has(`${f.mac}@${formatIPv4(f.dst)}`)
      ? [{ mac: f.mac, dst: f.dst }] : [])),
    staleRoutes: [...routes.remove],
  };
}

/** True when every entry `p` needs is in the snapshot, exactly. */
export function peerIntact(p: ProgrammedPeer, deviceIndex: number, k: KernelSnapshot): boolean {
  return planVxlanResync(new Map([[p.peer.key, p]]), deviceIndex, k, false).reprogram.length === 0;
}
