// Pure: compares the peers the kernel datapath should have programmed with what the kernel holds on the flannel
// device, and says which peers to reprogram and which entries no lease backs any more.
import { formatCidr, parseIPv4 } from '../../net/ipv4.js';
import type { ArpEntry, FdbEntry } from '../../netlink/neighbours.js';
import type { KernelRoute } from '../../netlink/routes.js';
import type { VxlanPeer } from './peers.js';

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

function ip(text: string): number {
  return parseIPv4(text) ?? 0;
}

/** True when every entry `p` needs is in the snapshot, exactly. */
export function peerIntact(p: ProgrammedPeer, deviceIndex: number, k: KernelSnapshot): boolean {
  const { peer } = p;
  const subnetIP = ip(peer.subnetIP);
  const publicIP = ip(peer.publicIP);
  const route = k.routes.find((r) => r.dst.ip === peer.subnet.ip && r.dst.prefixLen === peer.subnet.prefixLen);
  if (p.direct) return route !== undefined && route.gateway === publicIP;
  return route !== undefined && route.gateway === subnetIP && route.oif === deviceIndex && route.onlink
    && k.arp.some((a) => a.ip === subnetIP && a.mac === peer.vtepMac && a.permanent)
    && k.fdb.some((f) => f.mac === peer.vtepMac && f.dst === publicIP);
}

/**
 * `removeStale` only once the complete set of peers is known (after the first list of leases): before that an
 * entry of a peer not yet seen would look stale. Entries that are not permanent (the kernel's own) are left alone.
 */
export function planVxlanResync(
  peers: ReadonlyMap<string, ProgrammedPeer>,
  deviceIndex: number,
  k: KernelSnapshot,
  removeStale: boolean,
): ResyncPlan {
  const reprogram = [...peers].filter(([, p]) => !peerIntact(p, deviceIndex, k)).map(([key]) => key);
  if (!removeStale) return { reprogram, staleArp: [], staleFdb: [], staleRoutes: [] };
  const overlay = [...peers.values()].filter((p) => !p.direct).map((p) => p.peer);
  const wantedArp = new Set(overlay.map((p) => ip(p.subnetIP)));
  const wantedFdb = new Set(overlay.map((p) => `${p.vtepMac}@${ip(p.publicIP)}`));
  const wantedRoutes = new Set(overlay.map((p) => p.key));
  return {
    reprogram,
    staleArp: k.arp.filter((a) => a.permanent && !wantedArp.has(a.ip)).map((a) => a.ip),
    staleFdb: k.fdb.flatMap((f) => (f.permanent && f.dst !== null && !wantedFdb.has(`${f.mac}@${f.dst}`)
      ? [{ mac: f.mac, dst: f.dst }] : [])),
    staleRoutes: k.routes.filter((r) => r.oif === deviceIndex && !wantedRoutes.has(formatCidr(r.dst))),
  };
}
