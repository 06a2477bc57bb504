// The vxlan backend on the userspace datapath: a TUN device flannel.<VNI> and the encap/decap loop of src/datapath,
// speaking the kernel VXLAN wire format, so peers (kernel or userspace, tsflanneld or upstream) see an ordinary
// vxlan node. The lease is the kernel backend's: BackendType vxlan, BackendData {VNI, VtepMAC}, MTU ext − 50.
import type { Backend, BackendContext, BackendRegistration } from '../backend.js';
import type { Logger } from '../../log.js';
import { formatCidr, formatIPv4, netContainsIP, parseIPv4, type Ipv4Net } from '../../net/ipv4.js';
import { deleteAddressIfPresent, ensureAddress, listAddresses } from '../../netlink/addresses.js';
import { deleteLinkIfPresent, getLinkByName, setLinkMtu, setLinkUp, type LinkInfo } from '../../netlink/links.js';
import { replaceRoute, RT_SCOPE_LINK } from '../../netlink/routes.js';
import { UserspaceDatapath } from '../../datapath/userspace-datapath.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { vxlanDeviceMtu, vxlanDeviceName, type VxlanConfig } from './config.js';
import { readVxlanPeer, type VxlanPeer } from './peers.js';
import { loadOrCreateVtepMac } from './vtep-mac.js';

export class UserspaceVxlanBackend implements Backend {
  readonly deviceName: string;
  private readonly log: Logger;
  private readonly mtu: number;
  private vtepMac = '';
  private datapath: UserspaceDatapath | null = null;
  private device: LinkInfo | null = null;
  /** Peers by subnet key, as handed to the datapath. */
  private readonly peers = new Map<string, VxlanPeer>();
  private ignoredLeases = 0;

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
    await this.addressDevice(device.index, own.subnet);
    datapath.start();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    const wanted = new Map<string, VxlanPeer>();
    for (const lease of peers) {
      const peer = this.readPeer(lease);
      if (peer) wanted.set(peer.key, peer);
    }
    for (const [key, old] of this.peers) {
      if (!wanted.has(key)) {
        datapath.deletePeer(old.subnet.ip);
        this.peers.delete(key);
      }
    }
    for (const peer of wanted.values()) this.setPeer(datapath, peer);
    this.log.info({ peers: this.peers.size }, 'peer table replaced');
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    const { datapath } = this.requireRegistered();
    for (const event of events) {
      if (event.type === 'added') {
        const peer = this.readPeer(event.lease);
        if (peer) this.setPeer(datapath, peer);
        continue;
      }
      const key = formatCidr(event.lease.subnet);
      if (this.peers.delete(key)) {
        datapath.deletePeer(event.lease.subnet.ip);
        this.log.info({ subnet: key }, 'peer removed');
      }
    }
  }

  async stop(): Promise<void> {
    await this.datapath?.stop();
  }

  counters(): Readonly<Record<string, number>> {
    const out: Record<string, number> = { peers: this.peers.size, ignored_leases: this.ignoredLeases };
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

  private setPeer(datapath: UserspaceDatapath, peer: VxlanPeer): void {
    const old = this.peers.get(peer.key);
    if (old && old.publicIP === peer.publicIP && old.vtepMac === peer.vtepMac) return;
    datapath.setPeer(peer.subnet.ip, parseIPv4(peer.publicIP)!, peer.vtepMac);
    this.peers.set(peer.key, peer);
    this.log.info({ subnet: peer.key, publicIP: peer.publicIP, vtepMac: peer.vtepMac }, old ? 'peer changed' : 'peer added');
  }
}

export function createUserspaceVxlanBackend(ctx: BackendContext, config: VxlanConfig): Backend {
  return new UserspaceVxlanBackend(ctx, config);
}
