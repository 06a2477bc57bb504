// The vxlan backend on the userspace datapath: a TUN device flannel.<VNI> and the encap/decap loop of src/datapath,
// speaking the kernel VXLAN wire format, so peers (kernel or userspace, tsflanneld or upstream) see an ordinary
// vxlan node. The lease is the kernel backend's: BackendType vxlan, BackendData {VNI, VtepMAC}, MTU ext − 50.
// Kept so: a TUN deleted by hand is reopened (netlink monitor, or a loop finding its fd dead), re-addressed and
// routed with the peers kept; with Backend.DirectRouting, peers on our L2 get a plain kernel route instead.
import type { Backend, BackendContext, BackendRegistration } from '../backend.js';
import type { Logger } from '../../log.js';
import { formatCidr, formatIPv4, type Ipv4Net, netContainsIP, parseIPv4, requireIPv4 } from '../../net/ipv4.js';
import { deleteAddressIfPresent, ensureAddress, listAddresses } from '../../netlink/addresses.js';
import { deleteLinkIfPresent, getLinkByName, setLinkMtu, setLinkUp, type LinkInfo } from '../../netlink/links.js';
import { NetlinkMonitor, type MonitorEvent } from '../../netlink/monitor.js';
import { deleteRouteIfPresent, listRoutes, replaceRoute, RT_SCOPE_LINK } from '../../netlink/routes.js';
import { UserspaceDatapath } from '../../datapath/userspace-datapath.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { vxlanDeviceMtu, vxlanDeviceName, type VxlanConfig } from './config.js';
import { isOnOurL2 } from './direct-routing.js';
import { readVxlanPeer, type VxlanPeer } from './peers.js';
import { peerRoute, planVxlanResync, type ProgrammedPeer } from './reconcile.js';
import { loadOrCreateVtepMac } from './vtep-mac.js';

const REOPEN_BACKOFF_MIN_MS = 200;
const REOPEN_BACKOFF_MAX_MS = 30_000;
/** How often DirectRouting routes are checked (as the kernel datapath resyncs its entries). */
const DIRECT_ROUTE_RESYNC_MS = 10_000;

export class UserspaceVxlanBackend implements Backend {
  readonly deviceName: string;
  private readonly log: Logger;
  private readonly mtu: number;
  private vtepMac = '';
  private datapath: UserspaceDatapath | null = null;
  private device: LinkInfo | null = null;
  /** Peers by subnet key, as handed to the datapath (direct ones too: their frames are still accepted). */
  private readonly peers = new Map<string, ProgrammedPeer>();
  private ignoredLeases = 0;
  private ownSubnet: Ipv4Net | null = null;
  /** Kernel changes (routes, device re-creation) in order, so lease events and the monitor never interleave. */
  private chain: Promise<void> = Promise.resolve();
  private monitor: NetlinkMonitor | null = null;
  private reopenTimer: NodeJS.Timeout | null = null;
  private reopenDelay = REOPEN_BACKOFF_MIN_MS;
  private reopenPending = false;
  private directResyncTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly ctx: BackendContext, private readonly config: VxlanConfig) {
    this.deviceName = vxlanDeviceName(config.vni);
    this.log = ctx.log.child({ component: 'vxlan-userspace', device: this.deviceName });
    this.mtu = vxlanDeviceMtu(config, ctx.extIface.mtu);
  }

  async register(): Promise<BackendRegistration> {
    this.vtepMac = await loadOrCreateVtepMac(this.ctx.stateDir, this.deviceName);
    const existing = await getLinkByName(this.deviceName);
    if (existing && existing.kind !== 'tun') {
      // Left by the kernel datapath (or upstream flanneld): a TUN cannot take its name while it exists.
      this.log.info({ kind: existing.kind }, 'replacing the existing non-TUN device with the userspace datapath\'s TUN');
      await deleteLinkIfPresent(existing.index);
    }
    const localIP = parseIPv4(this.ctx.extIface.ifaceAddr);
    if (localIP === null) {
      throw new Error(`external interface ${this.ctx.extIface.name} has address ${JSON.stringify(this.ctx.extIface.ifaceAddr)}, not IPv4`);
    }
    this.datapath = new UserspaceDatapath({
      tunName: this.deviceName, vni: this.config.vni, port: this.config.port, ownMac: this.vtepMac, localIP,
      network: this.ctx.network.network, subnetLen: this.ctx.network.subnetLen, innerMtu: this.mtu, persist: true,
      spinMicros: this.ctx.vxlanBusyPoll, allowForeignSource: this.ctx.vxlanAllowForeignSource ?? false,
      log: this.log, onTunLost: () => this.deviceLost('a datapath loop found it gone'),
    });
    const link = await getLinkByName(this.deviceName);
    if (!link) throw new Error(`TUN device ${this.deviceName} vanished right after it was created`);
    if (link.mtu !== this.mtu) await setLinkMtu(link.index, this.mtu);
    this.device = link;
    const backendData: VxlanBackendData = { VNI: this.config.vni, VtepMAC: this.vtepMac };
    this.log.info({ vtepMac: this.vtepMac, mtu: this.mtu, port: this.config.port }, 'userspace vxlan datapath ready');
    return { backendType: 'vxlan', backendData, mtu: this.mtu };
  }

  async start(own: Lease): Promise<void> {
    const { datapath, device } = this.requireRegistered();
    this.ownSubnet = own.subnet;
    await this.addressDevice(device.index, own.subnet);
    datapath.start(own.subnet);
    this.startWatching();
    this.installTestHook(datapath);
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    await this.serial(async () => {
      const wanted = new Map<string, VxlanPeer>();
      for (const lease of peers) {
        const peer = this.readPeer(lease);
        if (peer) wanted.set(peer.key, peer);
      }
      for (const key of [...this.peers.keys()]) if (!wanted.has(key)) await this.removePeer(datapath, key);
      for (const peer of wanted.values()) await this.setPeer(datapath, peer);
      this.log.info({ peers: this.peers.size }, 'peer table replaced');
    });
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    await this.serial(async () => {
      for (const event of events) {
        const peer = event.type === 'added' ? this.readPeer(event.lease) : null;
        if (peer) await this.setPeer(datapath, peer);
        else await this.removePeer(datapath, formatCidr(event.lease.subnet));
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.directResyncTimer) clearInterval(this.directResyncTimer);
    this.monitor?.close();
    this.monitor = null;
    await this.chain;
    await this.datapath?.stop();
  }

  counters(): Readonly<Record<string, number>> {
    let direct = 0;
    for (const p of this.peers.values()) if (p.direct) direct++;
    const out: Record<string, number> = { peers: this.peers.size, direct_peers: direct, ignored_leases: this.ignoredLeases };
    if (this.datapath) Object.assign(out, this.datapath.counters());
    return out;
  }

  private requireRegistered(): { datapath: UserspaceDatapath; device: LinkInfo } {
    if (!this.datapath || !this.device) throw new Error('vxlan userspace backend used before register()');
    return { datapath: this.datapath, device: this.device };
  }

  /** `<own subnet network>/32` as the only address inside Network, up, and the one route `<Network> dev flannel.N`. */
  private async addressDevice(index: number, subnet: Ipv4Net): Promise<void> {
    const own = { ip: subnet.ip, prefixLen: 32 };
    for (const a of await listAddresses(index)) {
      if (netContainsIP(this.ctx.network.network, a.ip) && !(a.ip === own.ip && a.prefixLen === 32)) {
        this.log.info({ address: `${formatIPv4(a.ip)}/${a.prefixLen}` }, 'removing an old address from the TUN device');
        await deleteAddressIfPresent(index, a);
      }
    }
    await ensureAddress(index, own);
    await setLinkUp(index);
    await replaceRoute({ dst: this.ctx.network.network, oif: index, scope: RT_SCOPE_LINK });
  }

  private readPeer(lease: Lease): VxlanPeer | null {
    const reading = readVxlanPeer(lease);
    if (reading.kind === 'ignored') {
      this.ignoredLeases++;
      this.log.debug(reading.reason);
      return null;
    }
    const peer = reading.peer;
    if (peer.vni !== null && peer.vni !== this.config.vni) {
      this.ignoredLeases++;
      this.log.warn({ subnet: peer.key, vni: peer.vni },
        `ignoring peer ${peer.key}: it uses VNI ${peer.vni}, this network uses ${this.config.vni}; give every node the same Backend.VNI`);
      return null;
    }
    return peer;
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Into the loop's table always; with DirectRouting and the PublicIP on our L2, also a kernel route via the
   * PublicIP, which (being more specific than `<Network> dev flannel.N`) keeps the peer's traffic off the TUN.
   */
  private async setPeer(datapath: UserspaceDatapath, peer: VxlanPeer): Promise<void> {
    const old = this.peers.get(peer.key);
    const direct = this.config.directRouting && await isOnOurL2(peer, this.log);
    if (old && old.peer.publicIP === peer.publicIP && old.peer.vtepMac === peer.vtepMac && old.direct === direct) return;
    datapath.setPeer(peer.subnet.ip, requireIPv4(peer.publicIP), peer.vtepMac);
    const programmed: ProgrammedPeer = { peer, direct };
    this.peers.set(peer.key, programmed);
    if (old?.direct && (!direct || old.peer.publicIP !== peer.publicIP)) await this.deleteDirectRoute(old);
    if (direct) await this.installDirectRoute(programmed);
    this.log.info({ subnet: peer.key, publicIP: peer.publicIP, vtepMac: peer.vtepMac, direct }, old ? 'peer changed' : 'peer added');
  }

  private async removePeer(datapath: UserspaceDatapath, key: string): Promise<void> {
    const old = this.peers.get(key);
    if (!old) return;
    this.peers.delete(key);
    datapath.deletePeer(old.peer.subnet.ip);
    if (old.direct) await this.deleteDirectRoute(old);
    this.log.info({ subnet: key }, 'peer removed');
  }

  /** Never throws: without the route the TUN route still carries the traffic, only without the shortcut. */
  private async installDirectRoute(p: ProgrammedPeer): Promise<void> {
    await replaceRoute(peerRoute(p, 0)).catch((err: unknown) => this.log.error(
      { subnet: p.peer.key, publicIP: p.peer.publicIP },
      `DirectRouting route failed, traffic goes through ${this.deviceName}: ${(err as Error).message}`));
  }

  /**
   * A DirectRouting route deleted or changed by hand (or by another tool) comes back: one route dump compared with
   * the direct peers by the kernel datapath's planner (a direct peer needs only its route; there are no neighbours).
   */
  private async resyncDirectRoutes(): Promise<void> {
    const direct = new Map([...this.peers].filter(([, p]) => p.direct));
    if (direct.size === 0 || this.stopped) return;
    const plan = planVxlanResync(direct, 0, { routes: await listRoutes(), arp: [], fdb: [] }, false);
    for (const key of plan.reprogram) {
      const p = direct.get(key)!;
      this.log.warn({ subnet: key, publicIP: p.peer.publicIP }, 'DirectRouting route missing; adding it again');
      await this.installDirectRoute(p);
    }
  }

  private async deleteDirectRoute(p: ProgrammedPeer): Promise<void> {
    await deleteRouteIfPresent(peerRoute(p, 0)).catch((err: unknown) =>
      this.log.warn({ subnet: p.peer.key }, `removing the DirectRouting route failed: ${(err as Error).message}`));
  }

  /**
   * Hidden, for the e2e tests only: with TSFLANNELD_TEST_HOOKS=1 in the environment, SIGUSR2 kills the first loop
   * thread as a crash would, so a test can see the restart in a whole daemon.
   */
  private installTestHook(datapath: UserspaceDatapath): void {
    if (process.env.TSFLANNELD_TEST_HOOKS !== '1') return;
    process.on('SIGUSR2', () => {
      this.log.warn('test hook: killing a datapath loop thread');
      void datapath.crashLoopForTest().catch(() => undefined);
    });
  }

  // ---- device loss: the TUN deleted under us comes back with its address, route and peers ----

  private startWatching(): void {
    if (this.config.directRouting && !this.directResyncTimer && !this.stopped) {
      this.directResyncTimer = setInterval(() => {
        void this.serial(() => this.resyncDirectRoutes()).catch((err: unknown) =>
          this.log.warn(`DirectRouting resync failed: ${(err as Error).message}`));
      }, DIRECT_ROUTE_RESYNC_MS);
      this.directResyncTimer.unref();
    }
    if (this.monitor || this.stopped) return;
    try {
      const monitor = new NetlinkMonitor({ groups: ['link'], ref: false, log: this.log });
      monitor.on('event', (e: MonitorEvent) => this.onMonitorEvent(e));
      // Events may have been lost: check the device is still ours.
      monitor.on('resync', () => { void this.checkDevice(); });
      monitor.start();
      this.monitor = monitor;
    } catch (err) {
      this.log.warn(`cannot watch links; a deleted ${this.deviceName} is then noticed only when a loop finds it gone: ${(err as Error).message}`);
    }
  }

  private onMonitorEvent(e: MonitorEvent): void {
    if (e.kind !== 'link' || e.action !== 'del' || this.stopped) return;
    if (e.link.name !== this.deviceName && e.link.index !== this.device?.index) return;
    this.deviceLost('the netlink monitor reported its deletion');
  }

  private async checkDevice(): Promise<void> {
    const link = await getLinkByName(this.deviceName).catch(() => null);
    if (!link || link.index !== this.device?.index) this.deviceLost('it is missing after a monitor resync');
  }

  /** Logged once per loss, however many signs of it arrive (monitor, both loops). */
  private deviceLost(how: string): void {
    if (this.stopped || this.reopenPending) return;
    this.reopenPending = true;
    this.log.warn({ how }, `TUN device ${this.deviceName} was deleted; reopening it`);
    this.scheduleReopen(0);
  }

  private scheduleReopen(delay: number): void {
    if (this.reopenTimer || this.stopped) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = null;
      void this.serial(() => this.reopen()).then(
        () => {
          this.reopenDelay = REOPEN_BACKOFF_MIN_MS;
          this.reopenPending = false;
        },
        (err: unknown) => {
          this.log.error(`reopening ${this.deviceName} failed, retrying in ${this.reopenDelay} ms: ${(err as Error).message}`);
          this.scheduleReopen(this.reopenDelay);
          this.reopenDelay = Math.min(this.reopenDelay * 2, REOPEN_BACKOFF_MAX_MS);
        });
    }, delay);
    this.reopenTimer.unref();
  }

  private async reopen(): Promise<void> {
    const { datapath } = this.requireRegistered();
    if (this.stopped || !this.ownSubnet) return;
    await datapath.reopenTun();
    const link = await getLinkByName(this.deviceName);
    if (!link) throw new Error(`TUN device ${this.deviceName} vanished right after it was reopened`);
    if (link.mtu !== this.mtu) await setLinkMtu(link.index, this.mtu);
    this.device = link;
    await this.addressDevice(link.index, this.ownSubnet);
    this.log.info({ index: link.index, peers: this.peers.size }, `TUN device ${this.deviceName} reopened, addressed and routed`);
  }
}

export function createUserspaceVxlanBackend(ctx: BackendContext, config: VxlanConfig): Backend {
  return new UserspaceVxlanBackend(ctx, config);
}
