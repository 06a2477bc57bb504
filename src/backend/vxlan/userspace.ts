// The vxlan backend on the userspace datapath: a TUN device flannel.<VNI> and the encap/decap loop of src/datapath,
// speaking the kernel VXLAN wire format, so peers (kernel or userspace, tsflanneld or upstream) see an ordinary
// vxlan node. The lease is the kernel backend's: BackendType vxlan, BackendData {VNI, VtepMAC}, MTU ext − 50.
// Kept so by the kit's keeper: a TUN deleted by hand is reopened (netlink monitor, a check, or a loop finding its fd
// dead), re-addressed and routed with the peers kept; with Backend.DirectRouting, peers on our L2 get a plain kernel
// route instead, checked every 10 s. Dual stack adds the IPv6 half, flannel-v6.<VNI> (userspace-v6.ts).
import type { Backend, BackendClaims, BackendContext, BackendRegistration, BackendSettings } from '../backend.js';
import { applySteps } from '../kit/apply-steps.js';
import { PeerPassLog } from '../kit/peer-log.js';
import { Keeper } from '../kit/keeper.js';
import { KeptFds } from '../kit/kept-fds.js';
import type { PeerDiff, PeerStep } from '../kit/peer-diff.js';
import { addressTun, keptTun, loopLocalIP, openedTunLink, removeTun, requireOpened } from '../kit/tun-device.js';
import type { Logger } from '../../log.js';
import { timeline } from '../../timeline.js';
import { type Ipv4Net, requireIPv4 } from '../../net/ipv4.js';
import { deleteLinkIfPresent, getLinkByName, type LinkInfo } from '../../netlink/links.js';
import { RT_SCOPE_LINK } from '../../netlink/routes.js';
import { UserspaceDatapath } from '../../datapath/userspace-datapath.js';
import type { PeerTableOp } from '../../datapath/peer-table.js';
import { type DatapathFds, type DatapathHandover, type LoopConfig, sameLoopConfig } from '../../reload/handover.js';
import { LoopSnapshotFile } from '../../reload/fd-store.js';
import { type Inherited, takeDatapath } from '../../reload/inbox.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { vxlanDeviceMtu, vxlanDeviceName, type VxlanConfig } from './config.js';
import { isOnOurL2 } from './direct-routing.js';
import { DirectRoutes } from './userspace-direct.js';
import { vxlanPeerDiff } from './lease-reading.js';
import type { VxlanPeer } from './peers.js';
import type { ProgrammedPeer } from './reconcile.js';
import { VtepIdentity } from './vtep-identity.js';
import { KernelVxlanV6OnlyBackend } from './kernel-v6-only.js';
import { dualStackV6Half, userspaceV6Half, type UserspaceVxlanV6 } from './userspace-v6.js';

type UserspaceSettings = NonNullable<BackendSettings['vxlan']>;

/** How often the TUN and the DirectRouting routes are checked (as the kernel datapath resyncs its entries). */
const RESYNC_MS = 10_000;
/**
 * The loops of a fresh datapath, and of adopted queues without a peer table (from systemd's fd store), start only
 * once the peers are known: what queued on the TUN and the sockets meanwhile is forwarded, not dropped for want of a
 * peer. It also keeps the loop threads' creation and JIT warm-up (CPU on a small host) off the path to subnet.env and
 * READY. This long at most, should etcd not list the peers.
 */
const PEERS_WAIT_MS = 5_000;

export class UserspaceVxlanBackend implements Backend {
  readonly deviceName: string;
  private readonly log: Logger;
  /** Per-peer lines at info for the first few of a pass, then one summary. */
  private readonly passLog: PeerPassLog;
  private readonly mtu: number;
  private readonly vtep: VtepIdentity;
  private datapath: UserspaceDatapath | null = null;
  private device: LinkInfo | null = null;
  /** Peers by subnet key, as handed to the datapath (direct ones too: their frames are still accepted). */
  private readonly peers = new Map<string, ProgrammedPeer>();
  private readonly diff: PeerDiff<VxlanPeer>;
  private readonly keeper: Keeper;
  private ownSubnet: Ipv4Net | null = null;
  private stopped = false;
  /** Peers seeded from a previous process's table: those etcd no longer lists go at the first reset. */
  private seeded: Set<number> | null = null;
  /** Adopted queues wait for the peers before the loops start (see ADOPTED_PEERS_WAIT_MS). */
  private waitForPeers = false;
  private pendingOwn: Ipv4Net | null = null;
  private readonly keptFds: KeptFds;
  private readonly direct: DirectRoutes;
  /** The TUN and sockets being opened since register() (see there). */
  private opening: Promise<void> | null = null;
  private readonly snapshot: LoopSnapshotFile;
  /** The IPv6 half in a dual-stack network (flannel-v6.<VNI>); null otherwise. */
  private readonly v6: UserspaceVxlanV6 | null;

  constructor(private readonly ctx: BackendContext, private readonly config: VxlanConfig,
    private readonly settings: UserspaceSettings) {
    this.deviceName = vxlanDeviceName(config.vni);
    this.log = ctx.log.child({ component: 'vxlan-userspace', device: this.deviceName });
    this.passLog = new PeerPassLog(this.log);
    this.mtu = vxlanDeviceMtu(config, ctx.extIface.mtu);
    this.vtep = new VtepIdentity(ctx.stateDir, this.deviceName, this.log);
    this.diff = vxlanPeerDiff({
      vni: config.vni, otherVni: 'ignore', own: () => ({ publicIP: ctx.extIface.extAddr, vtepMac: this.vtep.mac }),
      onClash: (peer) => ctx.work.post('new VtepMAC', () => this.leaveClash(peer)),
    }, this.log);
    this.snapshot = new LoopSnapshotFile(this.deviceName, ctx.stateDir, () => (this.datapath
      ? { peers: this.datapath.peerReplay(), loops: this.datapath.loopConfig() } : null), this.log);
    this.direct = new DirectRoutes(this.deviceName, this.log);
    this.keptFds = new KeptFds({ device: this.deviceName, log: this.log, work: ctx.work,
      // In line with the peer updates: the table handed over is the one the loops had.
      pause: async (): Promise<DatapathHandover> => {
        const { datapath } = this.requireRegistered();
        const peers = await datapath.pauseLoops();
        return { device: this.deviceName, ...datapath.fds(), peers, loops: datapath.loopConfig() };
      },
      resume: () => this.datapath?.resumeLoops() });
    this.v6 = dualStackV6Half(ctx, config, settings, this.mtu, this.log);
    this.keeper = new Keeper({
      work: ctx.work, log: this.log, everyMs: RESYNC_MS,
      device: keptTun(this.deviceName, () => this.device?.index ?? null, () => this.reopen()),
      moreDevices: this.v6 ? [this.v6.kept] : [],
      resync: async () => {
        if (!this.stopped) await this.direct.resync(this.peers);
        await this.v6?.resync();
        return true;
      },
    });
  }

  claims(): BackendClaims {
    return { devices: this.v6 ? [this.deviceName, this.v6.deviceName] : [this.deviceName], ownsRoute: () => false };
  }

  /**
   * The lease needs only our VtepMAC and MTU: the TUN queues, sockets and send-path probe (tens of ms of CPU) are
   * opened while etcd answers the lease acquisition, and start() waits for them. Handed-over fds are taken at once,
   * before the daemon closes those no backend took.
   */
  async register(): Promise<BackendRegistration> {
    await this.vtep.load(false);
    const inherited = takeDatapath(this.deviceName);
    await this.v6?.register();
    this.opening = this.open(inherited);
    // Its failure is start()'s (a stop before then only waits for it).
    this.opening.catch(() => undefined);
    return { backendType: 'vxlan', backendData: this.backendData(), mtu: this.mtu,
      ...(this.v6 ? { backendV6Data: this.v6.backendV6Data() } : {}) };
  }

  private async open(inherited: Inherited | null): Promise<void> {
    const existing = await getLinkByName(this.deviceName);
    if (!inherited && existing && existing.kind !== 'tun') {
      // Left by the kernel datapath (or upstream flanneld): a TUN cannot take its name while it exists.
      this.log.info({ kind: existing.kind }, 'replacing the existing non-TUN device with the userspace datapath\'s TUN');
      await deleteLinkIfPresent(existing.index);
    }
    this.datapath = await this.adoptOrOpen(inherited);
    this.keepFds(this.datapath.fds());
    this.device = await openedTunLink(this.deviceName, this.mtu, 'created');
    this.log.info({ vtepMac: this.vtep.mac, mtu: this.mtu, port: this.config.port }, 'userspace vxlan datapath ready');
  }

  async start(own: Lease): Promise<void> {
    await this.opening;
    const { datapath, device } = this.requireRegistered();
    this.ownSubnet = own.subnet;
    await this.addressDevice(device.index, own.subnet);
    // From here the kernel queues the pods' packets on the TUN's open queues (and peers' datagrams on the open
    // sockets) until the loops, started with the first peer list, read them: subnet.env need not wait for the loops.
    if (this.waitForPeers || !datapath.started) {
      this.waitForPeers = true;
      this.pendingOwn = own.subnet;
      setTimeout(() => this.ctx.work.post('start the waiting loops', async () => this.startPending()), PEERS_WAIT_MS).unref();
    } else {
      datapath.start(own.subnet);
    }
    await this.v6?.start(own.ipv6Subnet ?? null);
    this.keeper.start();
    this.installTestHook();
    this.snapshot.changed();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    await this.passLog.pass(() => applySteps(this.diff.reset(peers, this.peers.keys()), (step) => this.apply(datapath, step)));
    this.dropStaleSeeded(datapath);
    await this.v6?.resetPeers(peers);
    this.startPending();
    this.snapshot.changed();
    this.log.info({ peers: this.peers.size }, 'peer table replaced');
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    await this.passLog.pass(() => applySteps(this.diff.events(events), (step) => this.apply(datapath, step)));
    await this.v6?.handleEvents(events);
    this.snapshot.changed();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.opening?.catch(() => undefined);
    this.keeper.stop();
    this.keptFds.withdraw();
    this.snapshot.close();
    await this.datapath?.stop();
    await this.v6?.stop();
  }

  /** The TUN is persistent: it goes only when deleted; its route and address go with it. */
  async teardown(): Promise<void> {
    await this.stop();
    this.keptFds.forget();
    for (const p of this.peers.values()) if (p.direct) await this.direct.remove(p);
    this.peers.clear();
    await removeTun(this.deviceName, this.log);
    await this.v6?.teardown();
    this.device = null;
  }

  counters(): Readonly<Record<string, number>> {
    let direct = 0;
    for (const p of this.peers.values()) if (p.direct) direct++;
    const out: Record<string, number> = {
      peers: this.peers.size, direct_peers: direct, ignored_leases: this.diff.ignoredLeases,
      vtep_mac_clashes: this.vtep.clashes,
    };
    if (this.datapath) Object.assign(out, this.datapath.counters());
    if (this.v6) Object.assign(out, this.v6.counters());
    return out;
  }

  private requireRegistered(): { datapath: UserspaceDatapath; device: LinkInfo } {
    return requireOpened(this.datapath, this.device, 'vxlan userspace');
  }

  private backendData(): VxlanBackendData {
    return { VNI: this.config.vni, VtepMAC: this.vtep.mac };
  }

  /** The loops' settings from our config: a handed-over datapath running other ones is restarted with these. */
  private loopConfig(): LoopConfig {
    const localIP = loopLocalIP(this.ctx.extIface);
    const net = this.ctx.network.network;
    return { vni: this.config.vni, port: this.config.port, ownMac: this.vtep.mac, localIP: localIP >>> 0,
      network: { ip: net.ip >>> 0, prefixLen: net.prefixLen }, subnetLen: this.ctx.network.subnetLen, innerMtu: this.mtu,
      // A SCHED_FIFO loop never spins (see defaultSpinMicros): --vxlan-busy-poll applies to normal scheduling only.
      spinMicros: this.settings.loopPriority ? null : this.settings.busyPoll ?? null, allowForeignSource: this.settings.allowForeignSource ?? false,
      sendPath: this.settings.sendPath ?? null, fifoPriority: this.settings.loopPriority || null };
  }

  private openDatapath(adopt?: DatapathFds): UserspaceDatapath {
    const c = this.loopConfig();
    return new UserspaceDatapath({
      tunName: this.deviceName, vni: c.vni, port: c.port, ownMac: c.ownMac, localIP: c.localIP, network: c.network,
      subnetLen: c.subnetLen, innerMtu: c.innerMtu, persist: true, allowForeignSource: c.allowForeignSource,
      ...(c.spinMicros !== null ? { spinMicros: c.spinMicros } : {}),
      ...(c.sendPath !== null ? { sendPath: c.sendPath } : {}),
      ...(c.fifoPriority !== null ? { scheduling: { fifoPriority: c.fifoPriority } } : {}),
      log: this.log, onTunLost: () => this.keeper.deviceLost('a datapath loop found it gone'),
      ...(adopt ? { adopt } : {}),
    });
  }

  /**
   * A reload's datapath, already forwarding, is kept when it runs with our settings; with others (the config changed
   * meanwhile) its loops stop and new ones take over its fds and table. Without a handover: a fresh datapath.
   */
  private async adoptOrOpen(inherited: Inherited | null): Promise<UserspaceDatapath> {
    if (!inherited) return this.openDatapath();
    const { running, handover } = inherited;
    if (running && sameLoopConfig(running.loopConfig(), this.loopConfig())) {
      running.setOnTunLost(() => this.keeper.deviceLost('a datapath loop found it gone'));
      this.seeded = new Set(handover.peers.flatMap((op) => (op.op === 'set' ? [op.subnetIP >>> 0] : [])));
      return running;
    }
    let peers = handover.peers;
    let fds: DatapathFds = handover;
    if (running) {
      this.log.info('the datapath settings changed during the reload: its loops restart with the new ones');
      peers = await running.pauseLoops();
      fds = running.fds();
      // Its TAP goes: the new datapath opens its own (the same device) with its own send-path choice.
      running.releaseTap();
    }
    const datapath = this.openDatapath(fds);
    this.continueFrom(datapath, peers);
    return datapath;
  }

  /**
   * Adopted fds: with the previous process's peer table the loops start at once (our own subnet is in it), before
   * etcd is even asked; without one they wait for the first peer list.
   */
  private continueFrom(datapath: UserspaceDatapath, ops: readonly PeerTableOp[]): void {
    const own = ops.find((op) => op.op === 'own');
    if (!own || own.op !== 'own') {
      this.waitForPeers = true;
      return;
    }
    datapath.seedPeers(ops);
    this.seeded = new Set(ops.flatMap((op) => (op.op === 'set' ? [op.subnetIP >>> 0] : [])));
    datapath.start({ ip: own.subnetIP, prefixLen: own.prefixLen });
  }

  private dropStaleSeeded(datapath: UserspaceDatapath): void {
    if (!this.seeded) return;
    const listed = new Set([...this.peers.values()].map((p) => p.peer.subnet.ip >>> 0));
    for (const ip of this.seeded) if (!listed.has(ip)) datapath.deletePeer(ip);
    this.seeded = null;
  }

  private startPending(): void {
    if (!this.pendingOwn || !this.datapath || this.stopped) return;
    this.datapath.start(this.pendingOwn);
    this.pendingOwn = null;
    this.waitForPeers = false;
    timeline.mark('datapath loops started');
    this.log.debug({ peers: this.peers.size }, 'datapath loops started');
  }

  /**
   * The fds go to systemd's fd store (kept over a restart or crash) and are offered to a reload (kept over the
   * exec). Called again whenever the datapath's fds change.
   */
  private keepFds(fds: DatapathFds): void {
    this.keptFds.keep(fds);
    this.snapshot.changed();
  }

  /**
   * Another host publishes our VtepMAC (a cloned --state-dir). The loops take their MAC at start, so the datapath
   * is opened again (the TUN is persistent and keeps its address) with a new, kept MAC and the same peers.
   */
  private async leaveClash(peer: VxlanPeer): Promise<void> {
    const old = this.stopped || !this.datapath ? null : await this.vtep.leave(peer);
    if (old === null || !this.datapath) return;
    await this.datapath.stop();
    this.datapath = this.openDatapath();
    this.keepFds(this.datapath.fds());
    for (const p of this.peers.values()) this.datapath.setPeer(p.peer.subnet.ip, requireIPv4(p.peer.publicIP), p.peer.vtepMac);
    if (this.ownSubnet) this.datapath.start(this.ownSubnet);
    this.vtep.announce(old, peer);
    this.ctx.republish?.(this.backendData());
  }

  /** `<own subnet network>/32` as the only address inside Network, up, and the one route `<Network> dev flannel.N`. */
  private async addressDevice(index: number, subnet: Ipv4Net): Promise<void> {
    await addressTun(index, subnet, this.ctx.network.network, RT_SCOPE_LINK, this.log);
  }

  private async apply(datapath: UserspaceDatapath, step: PeerStep<VxlanPeer>): Promise<void> {
    if (step.op === 'set') await this.setPeer(datapath, step.peer);
    else await this.removePeer(datapath, step.key);
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
    if (old?.direct && (!direct || old.peer.publicIP !== peer.publicIP)) await this.direct.remove(old);
    if (direct) await this.direct.install(programmed);
    this.passLog.peer({ subnet: peer.key, publicIP: peer.publicIP, vtepMac: peer.vtepMac, direct }, old ? 'peer changed' : 'peer added');
  }

  private async removePeer(datapath: UserspaceDatapath, key: string): Promise<void> {
    const old = this.peers.get(key);
    if (!old) return;
    this.peers.delete(key);
    datapath.deletePeer(old.peer.subnet.ip);
    if (old.direct) await this.direct.remove(old);
    this.passLog.peer({ subnet: key }, 'peer removed');
  }

  /**
   * Hidden, for the e2e tests only: with TSFLANNELD_TEST_HOOKS=1 in the environment, SIGUSR2 kills the first loop
   * thread as a crash would, so a test can see the restart in a whole daemon.
   */
  private installTestHook(): void {
    if (process.env.TSFLANNELD_TEST_HOOKS !== '1') return;
    process.on('SIGUSR2', () => {
      this.log.warn('test hook: killing a datapath loop thread');
      void this.datapath?.crashLoopForTest().catch(() => undefined);
    });
  }

  /** The keeper found the TUN gone: a new one with the same name, addressed and routed; the loops keep the peers. */
  private async reopen(): Promise<void> {
    const { datapath } = this.requireRegistered();
    if (this.stopped || !this.ownSubnet) return;
    await datapath.reopenTun();
    this.keepFds(datapath.fds());
    const link = await openedTunLink(this.deviceName, this.mtu, 'reopened');
    this.device = link;
    await this.addressDevice(link.index, this.ownSubnet);
    this.log.info({ index: link.index, peers: this.peers.size }, `TUN device ${this.deviceName} reopened, addressed and routed`);
  }
}

/** Dual-stack and IPv4-only networks: UserspaceVxlanBackend; IPv6-only ones: flannel-v6.<VNI> alone. */
export function createUserspaceVxlanBackend(ctx: BackendContext, config: VxlanConfig, settings: UserspaceSettings): Backend {
  if (ctx.network.enableIPv4) return new UserspaceVxlanBackend(ctx, config, settings);
  return new KernelVxlanV6OnlyBackend(ctx, config,
    ({ mtu, extAddr6, log }) => userspaceV6Half(ctx, config, settings, mtu, extAddr6, log));
}
