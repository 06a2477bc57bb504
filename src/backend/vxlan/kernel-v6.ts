// The IPv6 half of the kernel vxlan backend in a dual-stack network, as upstream programs it: a second device
// flannel-v6.<VNI> (local = PublicIPv6, dev = the external interface, same VNI, port and MTU), its own VtepMAC
// published as BackendV6Data, `<own IPv6 subnet network>/128` on it, and per peer that has an IPv6 half: a permanent
// neighbour entry, a permanent FDB entry to the peer's PublicIPv6 and an onlink route. Built from the kit as the
// IPv4 half: peer steps from a PeerDiff, applied with applySteps. Every resync writes all entries again (each write
// is a replace), which also restores anything deleted meanwhile. As on flannel.<VNI>, a peer that publishes our
// VtepMAC (a --state-dir cloned with a VM image) makes us take a new one and republish it.
import { writeFile } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { formatCidr6, formatIPv6, nets6Equal, parseIPv6, type Ipv6Net } from '../../net/ipv6.js';
import { ensureAddress6 } from '../../netlink/addresses6.js';
import {
  deleteLinkIfPresent, getLinkByName, setLinkDown, setLinkMac, setLinkMtu, setLinkUp, type LinkInfo,
} from '../../netlink/links.js';
import {
  deleteFdb6IfPresent, deleteNeigh6IfPresent, ensureFdb6, ensureNeigh6, listFdb6, listPermanentNeigh6,
} from '../../netlink/neighbours.js';
import { deleteRoute6IfPresent, listOwnRoutes6, replaceRoute6 } from '../../netlink/routes6.js';
import { createVxlanLink, readVxlanAttrs, vxlanIncompatibility, type VxlanLinkSpec } from '../../netlink/vxlan.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import type { BackendWork } from '../backend.js';
import { applySteps } from '../kit/apply-steps.js';
import { PeerDiff, peerKey, type PeerReading, type PeerStep } from '../kit/peer-diff.js';
import { isOnOurL2v6 } from './direct-routing.js';
import { normaliseMac } from './peers.js';
import type { V6Half } from './v6-half.js';
import { VtepIdentity } from './vtep-identity.js';

export interface V6Peer {
  readonly subnet: Ipv6Net;
  readonly publicIPv6: bigint;
  readonly vtepMac: string;
  /** DirectRouting chose a plain route via PublicIPv6 (set when programmed). */
  direct?: boolean;
}

function field(data: unknown, name: string): unknown {
  if (typeof data !== 'object' || data === null) return undefined;
  const k = Object.keys(data).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : (data as Record<string, unknown>)[k];
}

/** The IPv6 half of a vxlan lease; null for a v4-only peer or one without a usable BackendV6Data. */
export function readV6Peer(lease: Lease): V6Peer | null {
  if (lease.attrs.backendType !== 'vxlan' || !lease.ipv6Subnet || !lease.attrs.publicIPv6) return null;
  const publicIPv6 = parseIPv6(lease.attrs.publicIPv6);
  const macText = field(lease.attrs.backendV6Data, 'VtepMAC');
  const vtepMac = typeof macText === 'string' ? normaliseMac(macText) : null;
  return publicIPv6 === null || vtepMac === null ? null : { subnet: lease.ipv6Subnet, publicIPv6, vtepMac };
}

export interface V6Sweep {
  readonly neigh: readonly bigint[];
  readonly fdb: ReadonlyArray<{ mac: string; dst: bigint }>;
  readonly routes: readonly Ipv6Net[];
}

/** Entries on flannel-v6.<VNI> that no peer backs (pure): what the resync removes once the peer list is known. */
export function staleV6Entries(peers: Iterable<V6Peer>, have: V6Sweep): V6Sweep {
  const list = [...peers].filter((p) => !p.direct);
  return {
    neigh: have.neigh.filter((ip) => !list.some((p) => p.subnet.ip === ip)),
    fdb: have.fdb.filter((f) => !list.some((p) => p.vtepMac === f.mac && p.publicIPv6 === f.dst)),
    routes: have.routes.filter((r) => !list.some((p) => nets6Equal(p.subnet, r))),
  };
}

/** True when `peer` (another host: another PublicIPv6) publishes the VtepMAC flannel-v6.<VNI> uses. */
export function isV6Clash(peer: V6Peer, own: { readonly publicIPv6: bigint | null; readonly vtepMac: string }): boolean {
  return peer.vtepMac === own.vtepMac && peer.publicIPv6 !== own.publicIPv6;
}

/** True when `next` cannot reuse `old`'s entries: they are keyed by its subnet, VtepMAC and PublicIPv6. */
export function v6PeerMoved(old: V6Peer, next: V6Peer): boolean {
  return old.vtepMac !== next.vtepMac || old.publicIPv6 !== next.publicIPv6 || !nets6Equal(old.subnet, next.subnet);
}

export interface V6ReadingPolicy {
  /** The half's own IPv6 subnet (null until started). */
  readonly own: () => Ipv6Net | null;
  /** Our PublicIPv6 and flannel-v6.<VNI>'s current VtepMAC. */
  readonly local: () => { readonly publicIPv6: bigint | null; readonly vtepMac: string };
  /** A peer from another PublicIPv6 publishes our VtepMAC: we must change ours. */
  readonly onClash: (peer: V6Peer, key: string) => void;
}

/** Peer steps for an IPv6 half: nothing for an IPv4-only peer or our own lease; a clash is reported, the peer kept. */
export function v6PeerDiff(policy: V6ReadingPolicy, log: Logger): PeerDiff<V6Peer> {
  return new PeerDiff((lease): PeerReading<V6Peer> => {
    const peer = readV6Peer(lease);
    if (peer === null || isOwnV6(lease, policy.own())) return { kind: 'none' };
    if (isV6Clash(peer, policy.local())) policy.onClash(peer, peerKey(lease));
    return { kind: 'peer', peer };
  }, log);
}

export function vxlanV6DeviceName(vni: number): string {
  return `flannel-v6.${vni}`;
}

/** True when `lease` is ours: its IPv6 subnet is `own` (the half's own subnet, once started). */
export function isOwnV6(lease: Lease, own: Ipv6Net | null): boolean {
  return own !== null && lease.ipv6Subnet != null && nets6Equal(lease.ipv6Subnet, own);
}

export class KernelVxlanV6 implements V6Half {
  readonly deviceName: string;
  private readonly vtep: VtepIdentity;
  private device: LinkInfo | null = null;
  private own: Ipv6Net | null = null;
  /** Peers by the backend's peer key (kit/peer-diff.ts peerKey: the IPv4 subnet, or the IPv6 one when IPv6-only). */
  private readonly peers = new Map<string, V6Peer>();
  /** Until the first full peer list, entries of peers not yet seen must not be swept. */
  private peersKnown = false;
  private readonly diff: PeerDiff<V6Peer>;
  private stopped = false;
  /** Peers that failed to program since takeFailures() last ran. */
  private failures = 0;

  constructor(private readonly o: { vni: number; port: number; learning: boolean; gbp: boolean; mtu: number;
    localIP6: string; underlayIndex: number; stateDir: string; log: Logger; directRouting: boolean;
    /** The backend's queue: a VtepMAC change runs in line with the peer updates. */
    work: BackendWork;
    /** Publishes new BackendV6Data (our VtepMAC changed after a clash). */
    republish?: (data: VxlanBackendData) => void }) {
    this.deviceName = vxlanV6DeviceName(o.vni);
    this.vtep = new VtepIdentity(o.stateDir, this.deviceName, o.log);
    const publicIPv6 = parseIPv6(o.localIP6);
    this.diff = v6PeerDiff({
      own: () => this.own, local: () => ({ publicIPv6, vtepMac: this.vtep.mac }),
      onClash: (peer, key) => o.work.post('new IPv6 VtepMAC', () => this.leaveClash(peer, key)),
    }, o.log);
  }

  backendV6Data(): VxlanBackendData {
    return { VNI: this.o.vni, VtepMAC: this.vtep.mac };
  }

  async register(): Promise<void> {
    await this.vtep.load(true);
    await this.ensureDevice();
  }

  async start(ownSubnet: Ipv6Net | null): Promise<void> {
    this.own = ownSubnet;
    await this.resync();
  }

  async resetPeers(leases: readonly Lease[]): Promise<void> {
    await applySteps(this.diff.reset(leases, this.peers.keys()), (step) => this.apply(step));
    this.peersKnown = true;
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    await applySteps(this.diff.events(events), (step) => this.apply(step));
  }

  async remove(key: string): Promise<void> {
    await this.apply({ op: 'remove', key });
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  takeFailures(): number {
    const n = this.failures;
    this.failures = 0;
    return n;
  }

  private async apply(step: PeerStep<V6Peer>): Promise<void> {
    const old = this.peers.get(step.key);
    if (step.op === 'remove') {
      if (!old) return;
      this.peers.delete(step.key);
      await this.clear(old);
      return;
    }
    const peer: V6Peer = { ...step.peer };
    // A peer whose entries stay (same subnet, MAC, PublicIPv6) keeps its DirectRouting choice: program() compares.
    if (old && v6PeerMoved(old, peer)) await this.clear(old);
    else if (old && old.direct !== undefined) peer.direct = old.direct;
    this.peers.set(step.key, peer);
    await this.program(peer);
  }

  /** Device (re-created when gone), address, every peer's entries. */
  async resync(): Promise<void> {
    const link = await getLinkByName(this.deviceName);
    if (!link || link.index !== this.device?.index) await this.ensureDevice();
    if (!this.device || !this.own) return;
    await ensureAddress6(this.device.index, this.own.ip, 128);
    await setLinkUp(this.device.index);
    await applySteps([...this.peers].map(([key, peer]) => ({ op: 'set' as const, key, peer })), (step) =>
      step.op === 'set' ? this.program(step.peer) : Promise.resolve());
    if (this.peersKnown) await this.sweep(this.device.index);
  }

  /** Removes neighbour, FDB and route entries on the device that no peer backs (an earlier run's, a removed peer's). */
  private async sweep(index: number): Promise<void> {
    const routes = (await listOwnRoutes6()).filter((r) => r.oif === index).map((r) => r.dst);
    const stale = staleV6Entries(this.peers.values(), { neigh: await listPermanentNeigh6(index), fdb: await listFdb6(index), routes });
    for (const ip of stale.neigh) await deleteNeigh6IfPresent(index, ip).catch(() => undefined);
    for (const f of stale.fdb) await deleteFdb6IfPresent(index, f.mac, f.dst).catch(() => undefined);
    for (const dst of stale.routes) await deleteRoute6IfPresent({ dst, oif: index }).catch(() => undefined);
    const n = stale.neigh.length + stale.fdb.length + stale.routes.length;
    if (n > 0) this.o.log.info({ stale: n }, 'removed IPv6 entries no lease backs');
  }

  /**
   * Another host publishes our VtepMAC: its FDB entries and ours point one MAC at two hosts. A new MAC, kept, on the
   * device, and BackendV6Data republished; peers relearn it from our lease.
   */
  private async leaveClash(peer: V6Peer, key: string): Promise<void> {
    const old = this.stopped ? null : await this.vtep.leave({ vtepMac: peer.vtepMac, publicIP: formatIPv6(peer.publicIPv6), key });
    if (old === null) return;
    if (this.device) {
      const index = this.device.index;
      try {
        await setLinkMac(index, this.vtep.mac);
      } catch {
        // A device that refuses a live change takes it while down; down cost it its routes: the resync restores them.
        await setLinkDown(index);
        await setLinkMac(index, this.vtep.mac);
        await this.resync();
      }
    }
    this.vtep.announce(old, { vtepMac: peer.vtepMac, publicIP: formatIPv6(peer.publicIPv6), key });
    this.o.republish?.(this.backendV6Data());
  }

  async teardown(): Promise<void> {
    const link = await getLinkByName(this.deviceName);
    if (link) await deleteLinkIfPresent(link.index);
    this.device = null;
  }

  private spec(): VxlanLinkSpec {
    return { name: this.deviceName, vni: this.o.vni, localIP: this.o.localIP6, underlayIndex: this.o.underlayIndex,
      port: this.o.port, learning: this.o.learning, gbp: this.o.gbp, mtu: this.o.mtu, mac: this.vtep.mac };
  }

  private async ensureDevice(): Promise<void> {
    const spec = this.spec();
    const existing = await getLinkByName(spec.name);
    if (existing) {
      const attrs = readVxlanAttrs(existing);
      const why = attrs ? vxlanIncompatibility(attrs, spec) : 'it is not a vxlan device';
      if (why === null) {
        this.device = existing;
        if (existing.mac && existing.mac !== this.vtep.mac) await this.vtep.adopt(existing.mac);
        if (existing.mtu !== spec.mtu) await setLinkMtu(existing.index, spec.mtu);
        return;
      }
      this.o.log.warn({ reason: why }, `existing ${spec.name} is incompatible; deleting and recreating it`);
      await deleteLinkIfPresent(existing.index);
    }
    this.device = await createVxlanLink(spec);
    this.o.log.info({ index: this.device.index, mac: this.vtep.mac, local: spec.localIP }, 'created IPv6 vxlan device');
    await writeFile(`/proc/sys/net/ipv6/conf/${spec.name}/accept_ra`, '0').catch(() => undefined);
  }

  /** DirectRouting as for IPv4: a peer whose PublicIPv6 the kernel reaches without a gateway is on our L2. */
  private async isDirect(p: V6Peer): Promise<boolean> {
    return this.o.directRouting && isOnOurL2v6(p.publicIPv6, formatCidr6(p.subnet), this.o.log);
  }

  /** Neighbour → FDB → route, as for IPv4; a failure is logged and counted (takeFailures): the backend retries its pass soon. */
  private async program(p: V6Peer): Promise<void> {
    if (!this.device) return;
    const index = this.device.index;
    try {
      const direct = await this.isDirect(p);
      if (p.direct !== undefined && p.direct !== direct) await this.clear(p);
      p.direct = direct;
      if (direct) return await replaceRoute6({ dst: p.subnet, gateway: p.publicIPv6 });
      await ensureNeigh6(index, p.subnet.ip, p.vtepMac);
      await ensureFdb6(index, p.vtepMac, p.publicIPv6);
      await replaceRoute6({ dst: p.subnet, gateway: p.subnet.ip, oif: index, onlink: true });
    } catch (err) {
      this.failures++;
      this.o.log.error({ subnet: formatCidr6(p.subnet) }, `programming IPv6 peer failed (retried by the resync): ${(err as Error).message}`);
    }
  }

  private async clear(p: V6Peer): Promise<void> {
    if (p.direct) {
      await deleteRoute6IfPresent({ dst: p.subnet, gateway: p.publicIPv6 }).catch(() => undefined);
      return;
    }
    if (!this.device) return;
    const index = this.device.index;
    await deleteNeigh6IfPresent(index, p.subnet.ip).catch(() => undefined);
    await deleteFdb6IfPresent(index, p.vtepMac, p.publicIPv6).catch(() => undefined);
    await deleteRoute6IfPresent({ dst: p.subnet, gateway: p.subnet.ip, oif: index }).catch(() => undefined);
  }
}
