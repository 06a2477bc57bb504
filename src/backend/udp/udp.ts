// The udp backend (flannel 0.7's default, still in upstream v0.28.9 on amd64): a TUN flannel0 whose packets travel
// bare, one per UDP datagram, to port 8285 of the PublicIP owning the destination subnet. Upstream moves them one
// at a time through a C proxy; here the userspace vxlan datapath's loops carry them with the udp framing (TSO reads,
// UDP GSO sends, GRO receive coalesced into TSO writes, a loop per queue), with vxlan's anti-injection rules.
// Device facts as upstream: `<own subnet network>/32`, MTU ext − 28, the route `<Network> dev flannel0`; the lease
// has no BackendType and no BackendData. Like upstream, stopping closes the TUN, and the device goes with it.
import type { Backend, BackendClaims, BackendContext, BackendRegistration, BackendSettings } from '../backend.js';
import { Keeper } from '../kit/keeper.js';
import { PeerDiff, type PeerStep } from '../kit/peer-diff.js';
import { PeerPassLog } from '../kit/peer-log.js';
import { addressTun, keptTun, loopLocalIP, openedTunLink, removeTun, requireOpened } from '../kit/tun-device.js';
import { registerBackend } from '../registry.js';
import type { Logger } from '../../log.js';
import { formatIPv4, type Ipv4Net } from '../../net/ipv4.js';
import { deleteLinkIfPresent, getLinkByName, type LinkInfo } from '../../netlink/links.js';
import { RT_SCOPE_UNIVERSE } from '../../netlink/routes.js';
import { UserspaceDatapath } from '../../datapath/userspace-datapath.js';
import type { Lease, LeaseEvent } from '../../subnet/lease.js';
import { parseUdpConfig, UDP_DEVICE_NAME, udpDeviceMtu, type UdpConfig } from './config.js';
import { readUdpPeer, type UdpPeer } from './peers.js';

const RESYNC_MS = 10_000;
/** The loops' peer table keeps a MAC per peer for vxlan; udp sends none. */
const NO_MAC = '00:00:00:00:00:00';

export class UdpBackend implements Backend {
  readonly deviceName = UDP_DEVICE_NAME;
  private readonly log: Logger;
  /** Per-peer lines at info for the first few of a pass, then one summary. */
  private readonly passLog: PeerPassLog;
  private readonly mtu: number;
  private datapath: UserspaceDatapath | null = null;
  private device: LinkInfo | null = null;
  private readonly peers = new Map<string, UdpPeer>();
  private readonly diff: PeerDiff<UdpPeer>;
  private readonly keeper: Keeper;
  private ownSubnet: Ipv4Net | null = null;
  private stopped = false;

  constructor(private readonly ctx: BackendContext, private readonly config: UdpConfig,
    private readonly settings: BackendSettings) {
    this.log = ctx.log.child({ component: 'udp', device: this.deviceName });
    this.passLog = new PeerPassLog(this.log);
    this.mtu = udpDeviceMtu(ctx.extIface.mtu);
    this.diff = new PeerDiff(readUdpPeer, this.log);
    this.keeper = new Keeper({
      work: ctx.work, log: this.log, everyMs: RESYNC_MS,
      device: keptTun(this.deviceName, () => this.device?.index ?? null, () => this.reopen()),
    });
  }

  claims(): BackendClaims {
    return { devices: [this.deviceName], ownsRoute: () => false };
  }

  async register(): Promise<BackendRegistration> {
    const existing = await getLinkByName(this.deviceName);
    if (existing && existing.kind !== 'tun') {
      this.log.info({ kind: existing.kind }, `replacing the existing non-TUN device ${this.deviceName}`);
      await deleteLinkIfPresent(existing.index);
    }
    this.datapath = this.openDatapath();
    this.device = await openedTunLink(this.deviceName, this.mtu, 'created');
    this.log.info({ mtu: this.mtu, port: this.config.port }, 'udp datapath ready');
    // Upstream's udp lease carries neither BackendType nor BackendData.
    return { backendType: '', mtu: this.mtu };
  }

  async start(own: Lease): Promise<void> {
    const { datapath, device } = this.requireRegistered();
    this.ownSubnet = own.subnet;
    await this.addressDevice(device.index, own.subnet);
    datapath.start(own.subnet);
    this.keeper.start();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    for (const step of this.diff.reset(peers, this.peers.keys())) this.apply(datapath, step);
    this.passLog.end();
    this.log.info({ peers: this.peers.size }, 'peer table replaced');
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    for (const step of this.diff.events(events)) this.apply(datapath, step);
    this.passLog.end();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.keeper.stop();
    await this.datapath?.stop();
  }

  async teardown(): Promise<void> {
    await this.stop();
    this.peers.clear();
    await removeTun(this.deviceName, this.log);
    this.device = null;
  }

  counters(): Readonly<Record<string, number>> {
    const out: Record<string, number> = { peers: this.peers.size, ignored_leases: this.diff.ignoredLeases };
    if (this.datapath) Object.assign(out, this.datapath.counters());
    return out;
  }

  private requireRegistered(): { datapath: UserspaceDatapath; device: LinkInfo } {
    return requireOpened(this.datapath, this.device, 'udp');
  }

  private openDatapath(): UserspaceDatapath {
    const localIP = loopLocalIP(this.ctx.extIface);
    const shared = this.settings.vxlan;
    return new UserspaceDatapath({
      tunName: this.deviceName, framing: 'udp', vni: 0, port: this.config.port, ownMac: NO_MAC, localIP,
      network: this.ctx.network.network, subnetLen: this.ctx.network.subnetLen, innerMtu: this.mtu, persist: false,
      ...(shared?.busyPoll !== undefined ? { spinMicros: shared.busyPoll } : {}),
      allowForeignSource: shared?.allowForeignSource ?? false,
      log: this.log, onTunLost: () => this.keeper.deviceLost('a datapath loop found it gone'),
    });
  }

  /** `<own subnet network>/32`, up, and upstream's one route `<Network> dev flannel0` (scope universe). */
  private async addressDevice(index: number, subnet: Ipv4Net): Promise<void> {
    await addressTun(index, subnet, this.ctx.network.network, RT_SCOPE_UNIVERSE, this.log);
  }

  private apply(datapath: UserspaceDatapath, step: PeerStep<UdpPeer>): void {
    if (step.op === 'remove') {
      const old = this.peers.get(step.key);
      if (!old) return;
      this.peers.delete(step.key);
      datapath.deletePeer(old.subnet.ip);
      this.passLog.peer({ subnet: step.key }, 'peer removed');
      return;
    }
    const old = this.peers.get(step.key);
    if (old && old.publicIP === step.peer.publicIP) return;
    this.peers.set(step.key, step.peer);
    datapath.setPeer(step.peer.subnet.ip, step.peer.publicIP, NO_MAC);
    this.passLog.peer({ subnet: step.key, publicIP: formatIPv4(step.peer.publicIP) }, old ? 'peer changed' : 'peer added');
  }

  private async reopen(): Promise<void> {
    const { datapath } = this.requireRegistered();
    if (this.stopped || !this.ownSubnet) return;
    await datapath.reopenTun();
    const link = await openedTunLink(this.deviceName, this.mtu, 'reopened');
    this.device = link;
    await this.addressDevice(link.index, this.ownSubnet);
    this.log.info({ index: link.index, peers: this.peers.size }, `TUN device ${this.deviceName} reopened, addressed and routed`);
  }
}

export function createUdpBackend(ctx: BackendContext, settings: BackendSettings): Backend {
  return new UdpBackend(ctx, parseUdpConfig(ctx.network.backend.raw), settings);
}

registerBackend('udp', createUdpBackend);
