// The vxlan backend on the kernel's VXLAN device, programmed exactly as upstream flanneld does (flannel-compat §5):
// flannel.<VNI> with upstream's attributes, `<own subnet network>/32`, and per vxlan peer a permanent ARP entry,
// a permanent FDB entry and an onlink route, in that order, with rollback. Beyond upstream: the VtepMAC survives a
// reboot (state file, #1795) and is replaced when another host publishes it too (a cloned --state-dir), a changed
// peer's old FDB entry is removed, entries are resynced every 10 s, and entries on the device that no lease backs
// are removed once the full peer list is known. Watching, timing and re-creation are the kit's (kit/keeper.ts).
import { writeFile } from 'node:fs/promises';
import type { Backend, BackendClaims, BackendContext, BackendRegistration } from '../backend.js';
import { applySteps } from '../kit/apply-steps.js';
import { Keeper } from '../kit/keeper.js';
import { PeerPassLog } from '../kit/peer-log.js';
import type { PeerDiff, PeerStep } from '../kit/peer-diff.js';
import type { Logger } from '../../log.js';
import { requireIPv4, type Ipv4Net } from '../../net/ipv4.js';
import { NetlinkError } from '../../netlink/errors.js';
import {
  deleteLinkIfPresent, getLinkByName, setLinkDown, setLinkMac, setLinkMtu, type LinkInfo,
} from '../../netlink/links.js';
import {
  deleteArpIfPresent, deleteFdbIfPresent, ensureArp, ensureFdb, listArp, listFdb,
} from '../../netlink/neighbours.js';
import { deleteRouteIfPresent, listRoutes, replaceRoute } from '../../netlink/routes.js';
import { createVxlanLink, readVxlanAttrs, vxlanIncompatibility, type VxlanLinkSpec } from '../../netlink/vxlan.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { vxlanDeviceMtu, vxlanDeviceName, type VxlanConfig } from './config.js';
import { addressFlannelDevice, flannelDeviceAddressed } from './device-address.js';
import { isOnOurL2 } from './direct-routing.js';
import { KernelVxlanV6, vxlanV6DeviceName } from './kernel-v6.js';
import type { V6Half } from './v6-half.js';
import { vxlanPeerDiff } from './lease-reading.js';
import { peerChanged, type VxlanPeer } from './peers.js';
import { peerRoute, planVxlanResync, type ProgrammedPeer } from './reconcile.js';
import { VtepIdentity } from './vtep-identity.js';

const RESYNC_INTERVAL_MS = 10_000;
const RECREATE_BACKOFF_MIN_MS = 1000;
const RECREATE_BACKOFF_MAX_MS = 30_000;
/** A pass in which some peer failed is retried this soon (doubling up to the resync interval), not 10 s later. */
const RETRY_MIN_MS = 500;

export class KernelVxlanBackend implements Backend {
  readonly deviceName: string;
  private readonly log: Logger;
  private readonly mtu: number;
  private readonly vtep: VtepIdentity;
  private device: LinkInfo | null = null;
  private ownSubnet: Ipv4Net | null = null;
  /** Peers by subnet key, as last programmed (or attempted: a failed peer is retried by the resync). */
  private readonly peers = new Map<string, ProgrammedPeer>();
  private peersKnown = false;
  private readonly diff: PeerDiff<VxlanPeer>;
  private readonly keeper: Keeper;
  private readonly passLog: PeerPassLog;
  /** Peers that failed to program in the pass running now (each is retried by the resync the keeper schedules). */
  private failedInPass = 0;
  private stopped = false;
  /** The IPv6 half in a dual-stack network (flannel-v6.<VNI>); null otherwise. */
  private readonly v6: V6Half | null;
  private readonly stats = {
    peersProgrammed: 0, peerFailures: 0, entriesRecovered: 0, staleRemoved: 0, devicesCreated: 0,
  };

  constructor(private readonly ctx: BackendContext, private readonly config: VxlanConfig) {
    this.deviceName = vxlanDeviceName(config.vni);
    this.log = ctx.log.child({ component: 'vxlan-kernel', device: this.deviceName });
    this.mtu = vxlanDeviceMtu(config, ctx.extIface.mtu);
    this.passLog = new PeerPassLog(this.log);
    this.vtep = new VtepIdentity(ctx.stateDir, this.deviceName, this.log);
    this.diff = vxlanPeerDiff({
      vni: config.vni, otherVni: 'warn', own: () => ({ publicIP: ctx.extIface.extAddr, vtepMac: this.vtep.mac }),
      onClash: (peer) => ctx.work.post('new VtepMAC', () => this.leaveClash(peer)),
    }, this.log);
    const extAddr6 = ctx.extIface.extAddr6 ?? null;
    this.v6 = ctx.network.ipv6 && extAddr6 ? new KernelVxlanV6({ vni: config.vni, port: config.port, learning: config.learning,
      gbp: config.gbp, mtu: this.mtu, localIP6: extAddr6, underlayIndex: ctx.extIface.index, stateDir: ctx.stateDir,
      directRouting: config.directRouting, work: ctx.work, ...(ctx.republishV6 ? { republish: ctx.republishV6 } : {}),
      log: this.log.child({ device: vxlanV6DeviceName(config.vni) }) }) : null;
    this.keeper = new Keeper({
      work: ctx.work, log: this.log, everyMs: RESYNC_INTERVAL_MS, retryMinMs: RETRY_MIN_MS,
      device: {
        name: this.deviceName, index: () => this.device?.index ?? null, recreate: () => this.recreate(),
        backoffMinMs: RECREATE_BACKOFF_MIN_MS, backoffMaxMs: RECREATE_BACKOFF_MAX_MS,
        lostMessage: 'vxlan device deleted; recreating it',
      },
      resync: () => this.pass(() => this.resync()),
    });
  }

  claims(): BackendClaims {
    return { devices: this.v6 ? [this.deviceName, this.v6.deviceName] : [this.deviceName], ownsRoute: () => false };
  }

  async register(): Promise<BackendRegistration> {
    await this.vtep.load(true);
    await this.ensureDevice();
    await this.v6?.register();
    return { backendType: 'vxlan', backendData: this.backendData(), mtu: this.mtu,
      ...(this.v6 ? { backendV6Data: this.v6.backendV6Data() } : {}) };
  }

  async start(own: Lease): Promise<void> {
    this.ownSubnet = own.subnet;
    await this.addressDevice();
    await this.v6?.start(own.ipv6Subnet ?? null);
    this.keeper.start();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    this.keeper.passDone(await this.pass(async () => {
      await applySteps(this.diff.reset(peers, this.peers.keys()), (step) => this.apply(step));
      this.peersKnown = true;
      await this.v6?.resetPeers(peers);
      await this.resync();
    }));
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    this.keeper.passDone(await this.pass(async () => {
      await applySteps(this.diff.events(events), (step) => this.apply(step));
      await this.v6?.handleEvents(events);
    }));
  }

  /** Runs a pass over peers; true when every peer in it was programmed (else the keeper retries soon). */
  private async pass(run: () => Promise<void>): Promise<boolean> {
    this.failedInPass = 0;
    this.v6?.takeFailures?.();
    await this.passLog.pass(run);
    this.failedInPass += this.v6?.takeFailures?.() ?? 0;
    if (this.failedInPass > 0) this.log.warn({ failed: this.failedInPass }, 'some peers could not be programmed; retrying them soon');
    return this.failedInPass === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.keeper.stop();
    await this.v6?.stop?.();
  }

  /** The device takes its ARP/FDB entries and onlink routes with it; DirectRouting routes are removed first. */
  async teardown(): Promise<void> {
    await this.stop();
    for (const p of this.peers.values()) if (p.direct) await deleteRouteIfPresent(peerRoute(p, 0)).catch(() => undefined);
    this.peers.clear();
    const link = await getLinkByName(this.deviceName);
    if (link) await deleteLinkIfPresent(link.index);
    this.device = null;
    await this.v6?.teardown();
    this.log.info('vxlan device removed: backend torn down');
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.stats, vtepMacClashes: this.vtep.clashes, peers: this.peers.size, ignored_leases: this.diff.ignoredLeases };
  }

  private async apply(step: PeerStep<VxlanPeer>): Promise<void> {
    if (step.op === 'set') await this.addPeer(step.peer);
    else await this.removePeer(step.key);
  }

  private backendData(): VxlanBackendData {
    return { VNI: this.config.vni, VtepMAC: this.vtep.mac };
  }

  private get index(): number {
    if (!this.device) throw new Error(`${this.deviceName} does not exist`);
    return this.device.message.data.index ?? 0;
  }

  // ---- the device ----

  private spec(): VxlanLinkSpec {
    return {
      name: this.deviceName, vni: this.config.vni, localIP: this.ctx.extIface.extAddr,
      underlayIndex: this.ctx.extIface.index, port: this.config.port, learning: this.config.learning,
      gbp: this.config.gbp, mtu: this.mtu, mac: this.vtep.mac,
    };
  }

  /** Keeps a compatible device (and its MAC, as upstream does), else creates one with the kept MAC. */
  private async ensureDevice(): Promise<void> {
    const spec = this.spec();
    const existing = await getLinkByName(spec.name);
    if (existing) {
      const attrs = readVxlanAttrs(existing);
      const why = attrs ? vxlanIncompatibility(attrs, spec) : `it is a ${existing.kind ?? 'plain'} device, not vxlan`;
      if (why === null) {
        this.device = existing;
        if (existing.mac && existing.mac !== this.vtep.mac) {
          // The device outlived the state file (or was made by upstream): its MAC is what peers know.
          this.log.info({ mac: existing.mac, stateMac: this.vtep.mac }, 'keeping the existing device and its MAC');
          await this.vtep.adopt(existing.mac);
        }
        if (existing.mtu !== this.mtu) await setLinkMtu(existing.index, this.mtu);
        this.log.info({ index: existing.index }, 'using the existing vxlan device');
        return;
      }
      this.log.warn({ reason: why }, `existing ${spec.name} is incompatible; deleting and recreating it`);
      await deleteLinkIfPresent(existing.index);
    }
    try {
      this.device = await createVxlanLink(spec);
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'EEXIST') throw new Error(await this.existsMessage(spec));
      throw new Error(`cannot create ${spec.name} (vxlan id ${spec.vni} local ${spec.localIP} dev ${this.ctx.extIface.name}`
        + ` dstport ${spec.port}): ${(err as Error).message}`);
    }
    this.stats.devicesCreated++;
    this.log.info({ index: this.device.index, mac: this.vtep.mac, mtu: this.mtu, port: spec.port }, 'created vxlan device');
    // Upstream turns off router advertisements on the device; IPv6 may be disabled, so failure is fine.
    await writeFile(`/proc/sys/net/ipv6/conf/${spec.name}/accept_ra`, '0').catch(() => undefined);
  }

  /**
   * The kernel answers EEXIST both for a device of the same name and for another vxlan device that already takes
   * this VNI and port on the same local address: the second is an operator's clash, not a race, and says so.
   */
  private async existsMessage(spec: VxlanLinkSpec): Promise<string> {
    if (await getLinkByName(spec.name)) {
      return `cannot create ${spec.name}: a device of that name appeared meanwhile; restart to retry`;
    }
    return `cannot create ${spec.name}: another vxlan device already takes vxlan id ${spec.vni} dstport ${spec.port}`
      + ` (find it with "ip -d link show type vxlan"); remove it, or give Backend.VNI another value`;
  }

  /** `<own subnet network>/32`, other addresses inside Network removed, link up. */
  private async addressDevice(): Promise<void> {
    if (!this.ownSubnet) return;
    await addressFlannelDevice(this.index, this.ownSubnet, this.ctx.network.network, this.log);
  }

  /**
   * Another host publishes our VtepMAC (its --state-dir was cloned from ours): its FDB entries and ours point the
   * same MAC at two hosts. A new MAC, kept, on the device, and our lease republished; peers relearn it from there.
   */
  private async leaveClash(peer: VxlanPeer): Promise<void> {
    const old = this.stopped ? null : await this.vtep.leave(peer);
    if (old === null) return;
    if (this.device) {
      try {
        await setLinkMac(this.index, this.vtep.mac);
      } catch {
        // A device that refuses a live change takes it while down; down cost it its routes: program them again.
        await setLinkDown(this.index);
        await setLinkMac(this.index, this.vtep.mac);
        await this.addressDevice();
        for (const p of this.peers.values()) await this.programPeer(p);
      }
    }
    this.vtep.announce(old, peer);
    this.ctx.republish?.(this.backendData());
  }

  // ---- peers ----

  /** DirectRouting: the peer's PublicIP is on our L2 when the kernel reaches it without a gateway. */
  private async isDirect(peer: VxlanPeer): Promise<boolean> {
    return this.config.directRouting && isOnOurL2(peer, this.log);
  }

  private async addPeer(peer: VxlanPeer): Promise<void> {
    const old = this.peers.get(peer.key);
    const direct = await this.isDirect(peer);
    if (old && !peerChanged(old.peer, peer) && old.direct === direct) return;
    // The ARP entry and the route are replaced in place; the old FDB entry (keyed by MAC and VTEP) is not.
    if (old && !old.direct) await this.clearPeerEntries(old, { arp: direct, fdb: true, route: false });
    this.peers.set(peer.key, { peer, direct });
    await this.programPeer({ peer, direct });
  }

  private async removePeer(key: string): Promise<void> {
    const old = this.peers.get(key);
    if (!old) return;
    this.peers.delete(key);
    await this.clearPeerEntries(old, { arp: true, fdb: true, route: true });
    this.passLog.peer({ subnet: key }, 'removed peer');
  }

  /** ARP → FDB → route, undoing the earlier steps when a later one fails (upstream's order and rollback). */
  private async programPeer(p: ProgrammedPeer): Promise<boolean> {
    // Without the device (deleted, being recreated) there is nothing to program; recreate() programs every peer.
    if (!this.device) return false;
    const { peer } = p;
    const index = this.index;
    const subnetIP = requireIPv4(peer.subnetIP);
    const publicIP = requireIPv4(peer.publicIP);
    try {
      if (p.direct) {
        await replaceRoute(peerRoute(p, index));
      } else {
        await ensureArp(index, subnetIP, peer.vtepMac);
        try {
          await ensureFdb(index, peer.vtepMac, publicIP);
        } catch (err) {
          await deleteArpIfPresent(index, subnetIP).catch(() => undefined);
          throw err;
        }
        try {
          await replaceRoute(peerRoute(p, index));
        } catch (err) {
          await deleteArpIfPresent(index, subnetIP).catch(() => undefined);
          await deleteFdbIfPresent(index, peer.vtepMac, publicIP).catch(() => undefined);
          throw err;
        }
      }
    } catch (err) {
      this.stats.peerFailures++;
      this.failedInPass++;
      this.log.error({ subnet: peer.key, publicIP: peer.publicIP }, `programming peer failed (retried by the resync): ${(err as Error).message}`);
      return false;
    }
    this.stats.peersProgrammed++;
    this.passLog.peer({ subnet: peer.key, publicIP: peer.publicIP, vtepMac: peer.vtepMac, direct: p.direct }, 'programmed peer');
    return true;
  }

  /** Upstream's removal order: ARP, FDB, route. Failures are logged, never fatal. */
  private async clearPeerEntries(p: ProgrammedPeer, what: { arp: boolean; fdb: boolean; route: boolean }): Promise<void> {
    const { peer } = p;
    const index = this.device ? this.index : null;
    const steps: Array<[string, () => Promise<unknown>]> = [];
    if (!p.direct && index !== null) {
      if (what.arp) steps.push(['arp', () => deleteArpIfPresent(index, requireIPv4(peer.subnetIP))]);
      if (what.fdb) steps.push(['fdb', () => deleteFdbIfPresent(index, peer.vtepMac, requireIPv4(peer.publicIP))]);
    }
    if (what.route) {
      // Without the device (it is gone) its routes went with it; only a direct route can remain.
      if (p.direct || index !== null) steps.push(['route', () => deleteRouteIfPresent(peerRoute(p, index ?? 0))]);
    }
    for (const [what, step] of steps) {
      await step().catch((err: unknown) => this.log.warn({ subnet: peer.key }, `removing ${what} failed: ${(err as Error).message}`));
    }
  }

  // ---- keeping it so: the keeper calls these ----

  /** Device, address, then every peer again, with the same MAC: peers' entries stay valid. */
  private async recreate(): Promise<void> {
    if (this.stopped || !this.ownSubnet) return;
    const existing = await getLinkByName(this.deviceName);
    if (existing && this.device && existing.index === this.device.index) return;
    this.device = null;
    await this.ensureDevice();
    await this.addressDevice();
    await this.passLog.pass(async () => { for (const p of this.peers.values()) await this.programPeer(p); });
    this.log.info({ peers: this.peers.size }, 'vxlan device recreated and peers reprogrammed');
  }

  /** Compares the kernel with what should be and repairs it (like host-gw's 10 s route check). */
  private async resync(): Promise<void> {
    if (this.stopped || !this.ownSubnet) return;
    const existing = await getLinkByName(this.deviceName);
    if (!existing || existing.index !== this.device?.index) {
      this.keeper.deviceLost('it is missing at a resync');
      return;
    }
    const index = this.index;
    if (!await flannelDeviceAddressed(index, this.ownSubnet, existing.up)) {
      this.log.warn('vxlan device lost its address or went down; restoring');
      await this.addressDevice();
    }
    const snapshot = { arp: await listArp(index), fdb: await listFdb(index), routes: await listRoutes() };
    const plan = planVxlanResync(this.peers, index, snapshot, this.peersKnown);
    await applySteps(plan.reprogram.flatMap((key) => {
      const p = this.peers.get(key);
      return p ? [{ op: 'set' as const, key, peer: p }] : [];
    }), async (step) => {
      if (step.op === 'set' && await this.programPeer(step.peer)) {
        this.stats.entriesRecovered++;
        this.passLog.peer({ subnet: step.key }, 'peer entries recovered');
      }
    });
    for (const ip of plan.staleArp) {
      await deleteArpIfPresent(index, ip).catch(() => undefined);
      this.stats.staleRemoved++;
    }
    for (const f of plan.staleFdb) {
      await deleteFdbIfPresent(index, f.mac, f.dst).catch(() => undefined);
      this.stats.staleRemoved++;
    }
    for (const r of plan.staleRoutes) {
      await deleteRouteIfPresent({ dst: r.dst, gateway: r.gateway, oif: index }).catch(() => undefined);
      this.stats.staleRemoved++;
    }
    const stale = plan.staleArp.length + plan.staleFdb.length + plan.staleRoutes.length;
    if (stale > 0) this.log.info({ stale }, 'removed entries no lease backs');
    await this.v6?.resync();
  }
}

export function createKernelVxlanBackend(ctx: BackendContext, config: VxlanConfig): Backend {
  return new KernelVxlanBackend(ctx, config);
}
