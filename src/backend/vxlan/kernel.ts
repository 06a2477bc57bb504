// The vxlan backend on the kernel's VXLAN device, programmed exactly as upstream flanneld does (flannel-compat §5):
// flannel.<VNI> with upstream's attributes, `<own subnet network>/32`, and per vxlan peer a permanent ARP entry,
// a permanent FDB entry and an onlink route, in that order, with rollback. Beyond upstream: the VtepMAC survives a
// reboot (state file, #1795), a changed peer's old FDB entry is removed, entries are resynced every 10 s, and
// entries on the device that no lease backs are removed once the full peer list is known.
import { writeFile } from 'node:fs/promises';
import type { Backend, BackendContext, BackendRegistration } from '../backend.js';
import type { Logger } from '../../log.js';
import { formatCidr, formatIPv4, type Ipv4Net, netContainsIP, requireIPv4 } from '../../net/ipv4.js';
import { deleteAddressIfPresent, ensureAddress, listAddresses } from '../../netlink/addresses.js';
import { NetlinkError } from '../../netlink/errors.js';
import { deleteLinkIfPresent, getLinkByName, setLinkMtu, setLinkUp, type LinkInfo } from '../../netlink/links.js';
import { NetlinkMonitor, type MonitorEvent } from '../../netlink/monitor.js';
import {
  deleteArpIfPresent, deleteFdbIfPresent, ensureArp, ensureFdb, listArp, listFdb,
} from '../../netlink/neighbours.js';
import { deleteRouteIfPresent, listRoutes, replaceRoute } from '../../netlink/routes.js';
import { createVxlanLink, readVxlanAttrs, vxlanIncompatibility, type VxlanLinkSpec } from '../../netlink/vxlan.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { vxlanDeviceMtu, vxlanDeviceName, type VxlanConfig } from './config.js';
import { isOnOurL2 } from './direct-routing.js';
import { peerChanged, readVxlanPeer, type VxlanPeer } from './peers.js';
import { peerRoute, planVxlanResync, type ProgrammedPeer } from './reconcile.js';
import { loadOrCreateVtepMac, randomVtepMac, storeVtepMac } from './vtep-mac.js';

const RESYNC_INTERVAL_MS = 10_000;
const RECREATE_BACKOFF_MIN_MS = 1000;
const RECREATE_BACKOFF_MAX_MS = 30_000;

export class KernelVxlanBackend implements Backend {
  readonly deviceName: string;
  private readonly log: Logger;
  private readonly mtu: number;
  private vtepMac = '';
  private device: LinkInfo | null = null;
  private ownSubnet: Ipv4Net | null = null;
  /** Peers by subnet key, as last programmed (or attempted: a failed peer is retried by the resync). */
  private readonly peers = new Map<string, ProgrammedPeer>();
  private peersKnown = false;
  /** Every kernel change goes through this chain, so timers, the monitor and the daemon never interleave. */
  private chain: Promise<void> = Promise.resolve();
  private monitor: NetlinkMonitor | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private recreateTimer: NodeJS.Timeout | null = null;
  private recreateDelay = RECREATE_BACKOFF_MIN_MS;
  private stopped = false;
  private readonly stats = { peersProgrammed: 0, peerFailures: 0, entriesRecovered: 0, staleRemoved: 0, devicesCreated: 0 };

  constructor(private readonly ctx: BackendContext, private readonly config: VxlanConfig) {
    this.deviceName = vxlanDeviceName(config.vni);
    this.log = ctx.log.child({ component: 'vxlan-kernel', device: this.deviceName });
    this.mtu = vxlanDeviceMtu(config, ctx.extIface.mtu);
  }

  async register(): Promise<BackendRegistration> {
    this.vtepMac = await this.keptVtepMac();
    await this.serial(() => this.ensureDevice());
    const backendData: VxlanBackendData = { VNI: this.config.vni, VtepMAC: this.vtepMac };
    return { backendType: 'vxlan', backendData, mtu: this.mtu };
  }

  async start(own: Lease): Promise<void> {
    this.ownSubnet = own.subnet;
    await this.serial(() => this.addressDevice());
    this.startWatching();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    await this.serial(async () => {
      const wanted = new Map<string, VxlanPeer>();
      for (const lease of peers) {
        const peer = this.readPeer(lease);
        if (peer) wanted.set(peer.key, peer);
      }
      for (const key of [...this.peers.keys()]) if (!wanted.has(key)) await this.removePeer(key);
      for (const peer of wanted.values()) await this.addPeer(peer);
      this.peersKnown = true;
      await this.resync();
    });
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    await this.serial(async () => {
      for (const e of events) {
        if (e.type === 'removed') {
          await this.removePeer(formatCidr(e.lease.subnet));
        } else {
          const peer = this.readPeer(e.lease);
          if (peer) await this.addPeer(peer);
          else await this.removePeer(formatCidr(e.lease.subnet));
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.recreateTimer) clearTimeout(this.recreateTimer);
    this.monitor?.close();
    this.monitor = null;
    await this.chain;
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.stats, peers: this.peers.size };
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private get index(): number {
    if (!this.device) throw new Error(`${this.deviceName} does not exist`);
    return this.device.message.data.index ?? 0;
  }

  // ---- the device ----

  /** The MAC from --state-dir; an unusable state dir costs only the reboot-proof MAC, not the start. */
  private async keptVtepMac(): Promise<string> {
    try {
      return await loadOrCreateVtepMac(this.ctx.stateDir, this.deviceName);
    } catch (err) {
      this.log.warn(`cannot keep the VtepMAC under --state-dir ${this.ctx.stateDir} (${(err as Error).message}); `
        + 'using a random one, which peers must relearn after a reboot: make the directory writable');
      return randomVtepMac();
    }
  }

  private async rememberVtepMac(): Promise<void> {
    await storeVtepMac(this.ctx.stateDir, this.deviceName, this.vtepMac).catch((err: unknown) =>
      this.log.warn(`cannot keep the VtepMAC under --state-dir ${this.ctx.stateDir}: ${(err as Error).message}`));
  }

  private spec(): VxlanLinkSpec {
    return {
      name: this.deviceName, vni: this.config.vni, localIP: this.ctx.extIface.extAddr,
      underlayIndex: this.ctx.extIface.index, port: this.config.port, learning: this.config.learning,
      gbp: this.config.gbp, mtu: this.mtu, mac: this.vtepMac,
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
        if (existing.mac && existing.mac !== this.vtepMac) {
          // The device outlived the state file (or was made by upstream): its MAC is what peers know.
          this.log.info({ mac: existing.mac, stateMac: this.vtepMac }, 'keeping the existing device and its MAC');
          this.vtepMac = existing.mac;
          await this.rememberVtepMac();
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
      if (err instanceof NetlinkError && err.code === 'EEXIST') {
        throw new Error(`cannot create ${spec.name}: a device of that name appeared meanwhile; restart to retry`);
      }
      throw new Error(`cannot create ${spec.name} (vxlan id ${spec.vni} local ${spec.localIP} dev ${this.ctx.extIface.name}`
        + ` dstport ${spec.port}): ${(err as Error).message}`);
    }
    this.stats.devicesCreated++;
    this.log.info({ index: this.device.index, mac: this.vtepMac, mtu: this.mtu, port: spec.port }, 'created vxlan device');
    // Upstream turns off router advertisements on the device; IPv6 may be disabled, so failure is fine.
    await writeFile(`/proc/sys/net/ipv6/conf/${spec.name}/accept_ra`, '0').catch(() => undefined);
  }

  /** `<own subnet network>/32`, other addresses inside Network removed, link up. */
  private async addressDevice(): Promise<void> {
    if (!this.ownSubnet) return;
    const index = this.index;
    const own = { ip: this.ownSubnet.ip, prefixLen: 32 };
    for (const a of await listAddresses(index)) {
      if (netContainsIP(this.ctx.network.network, a.ip) && !(a.ip === own.ip && a.prefixLen === 32)) {
        this.log.info({ address: `${formatIPv4(a.ip)}/${a.prefixLen}` }, 'removing an old address from the vxlan device');
        await deleteAddressIfPresent(index, a);
      }
    }
    await ensureAddress(index, own);
    await setLinkUp(index);
  }

  // ---- peers ----

  private readPeer(lease: Lease): VxlanPeer | null {
    const reading = readVxlanPeer(lease);
    if (reading.kind === 'ignored') {
      this.log.debug(reading.reason);
      return null;
    }
    if (reading.peer.vni !== null && reading.peer.vni !== this.config.vni) {
      this.log.warn({ subnet: reading.peer.key, vni: reading.peer.vni }, `peer uses VNI ${reading.peer.vni}, we use ${this.config.vni}`);
    }
    return reading.peer;
  }

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
    this.log.info({ subnet: key }, 'removed peer');
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
      this.log.error({ subnet: peer.key, publicIP: peer.publicIP }, `programming peer failed (retried by the resync): ${(err as Error).message}`);
      return false;
    }
    this.stats.peersProgrammed++;
    this.log.info({ subnet: peer.key, publicIP: peer.publicIP, vtepMac: peer.vtepMac, direct: p.direct }, 'programmed peer');
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

  // ---- keeping it so: monitor, resync, recreation ----

  private startWatching(): void {
    if (this.monitor || this.stopped) return;
    try {
      const monitor = new NetlinkMonitor({ groups: ['link'], ref: false, log: this.log });
      monitor.on('event', (e: MonitorEvent) => this.onMonitorEvent(e));
      monitor.on('resync', () => { void this.serial(() => this.resync()).catch(() => undefined); });
      monitor.start();
      this.monitor = monitor;
    } catch (err) {
      this.log.warn(`cannot watch links (device loss is then found by the ${RESYNC_INTERVAL_MS / 1000} s resync): ${(err as Error).message}`);
    }
    this.resyncTimer ??= setInterval(() => {
      void this.serial(() => this.resync()).catch((err: unknown) => this.log.warn(`resync failed: ${(err as Error).message}`));
    }, RESYNC_INTERVAL_MS);
    this.resyncTimer.unref();
  }

  private onMonitorEvent(e: MonitorEvent): void {
    if (e.kind !== 'link' || e.action !== 'del' || this.stopped) return;
    if (e.link.name !== this.deviceName && e.link.index !== this.device?.index) return;
    this.log.warn({ index: e.link.index }, 'vxlan device deleted; recreating it');
    this.device = null;
    this.scheduleRecreate(0);
  }

  private scheduleRecreate(delay: number): void {
    if (this.recreateTimer || this.stopped) return;
    this.recreateTimer = setTimeout(() => {
      this.recreateTimer = null;
      void this.serial(() => this.recreate()).then(
        () => { this.recreateDelay = RECREATE_BACKOFF_MIN_MS; },
        (err: unknown) => {
          this.log.error(`recreating ${this.deviceName} failed, retrying in ${this.recreateDelay / 1000} s: ${(err as Error).message}`);
          this.scheduleRecreate(this.recreateDelay);
          this.recreateDelay = Math.min(this.recreateDelay * 2, RECREATE_BACKOFF_MAX_MS);
        });
    }, delay);
    this.recreateTimer.unref();
  }

  /** Device, address, then every peer again, with the same MAC: peers' entries stay valid. */
  private async recreate(): Promise<void> {
    if (this.stopped) return;
    const existing = await getLinkByName(this.deviceName);
    if (existing && this.device && existing.index === this.device.index) return;
    this.device = null;
    await this.ensureDevice();
    await this.addressDevice();
    for (const p of this.peers.values()) await this.programPeer(p);
    this.log.info({ peers: this.peers.size }, 'vxlan device recreated and peers reprogrammed');
  }

  /** Compares the kernel with what should be and repairs it (like host-gw's 10 s route check). */
  private async resync(): Promise<void> {
    if (this.stopped || !this.ownSubnet) return;
    const existing = await getLinkByName(this.deviceName);
    if (!existing || existing.index !== this.device?.index) {
      this.device = null;
      await this.recreate();
      return;
    }
    const index = this.index;
    const addrs = await listAddresses(index);
    if (!addrs.some((a) => a.ip === this.ownSubnet!.ip && a.prefixLen === 32) || !existing.up) {
      this.log.warn('vxlan device lost its address or went down; restoring');
      await this.addressDevice();
    }
    const snapshot = { arp: await listArp(index), fdb: await listFdb(index), routes: await listRoutes() };
    const plan = planVxlanResync(this.peers, index, snapshot, this.peersKnown);
    for (const key of plan.reprogram) {
      const p = this.peers.get(key);
      if (p && await this.programPeer(p)) {
        this.stats.entriesRecovered++;
        this.log.info({ subnet: key }, 'peer entries recovered');
      }
    }
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
  }
}

export function createKernelVxlanBackend(ctx: BackendContext, config: VxlanConfig): Backend {
  return new KernelVxlanBackend(ctx, config);
}
