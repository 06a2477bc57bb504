// An "upstream-style node": a host namespace set up exactly the way upstream flanneld (vxlan backend, etcd mode)
// sets itself up, made with etcdctl and iproute2 only, so tsflanneld can be checked against the real thing:
// its lease JSON in etcd, flannel.<VNI> (local = public IP, dev = external interface, nolearning, MTU − 50,
// `<subnet network>/32`, up), and per vxlan peer: permanent ARP → permanent FDB (self) → onlink route.
// Peers are programmed when `syncPeers()` is called (upstream watches etcd; a test calls it when it wants).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execCommand, inNetns, mustExec } from './netns.js';

export interface UpstreamNodeOptions {
  /** The host's namespace (already has its underlay interface up and addressed). */
  readonly netns: string;
  /** The underlay interface inside `netns` (flannel's external interface). */
  readonly extIface: string;
  readonly publicIP: string;
  /** Comma-separated etcd client URLs, reachable from inside `netns`. */
  readonly etcdEndpoints: string;
  /** etcd prefix, default /coreos.com/network. */
  readonly prefix?: string;
  /** The subnet to hold, `a.b.c.d/len` with host bits zero, e.g. 10.5.77.0/24. */
  readonly subnet: string;
  /** The config's Network, for subnet.env. */
  readonly network: string;
  readonly vni?: number;
  /** Config Port; 0/absent = kernel default 8472 (upstream then sends no port attribute). */
  readonly port?: number;
  /** Where to write this node's subnet.env (for attaching containers like on any other host). */
  readonly subnetFile: string;
  /** VtepMAC to give the device; random locally administered when absent. */
  readonly vtepMac?: string;
}

interface PeerEntry {
  readonly subnet: string;
  readonly subnetIP: string;
  readonly publicIP: string;
  readonly vtepMac: string;
}

export class UpstreamNode {
  readonly device: string;
  readonly prefix: string;
  private vtepMacValue: string;
  private leaseId = '';
  private mtuValue = 0;
  private readonly programmed = new Map<string, PeerEntry>();

  constructor(readonly opts: UpstreamNodeOptions) {
    this.device = `flannel.${opts.vni ?? 1}`;
    this.prefix = (opts.prefix ?? '/coreos.com/network').replace(/\/+$/, '');
    this.vtepMacValue = opts.vtepMac ?? randomLocalMac();
  }

  get vtepMac(): string { return this.vtepMacValue; }
  get mtu(): number { return this.mtuValue; }
  get leaseKey(): string { return `${this.prefix}/subnets/${this.opts.subnet.replace('/', '-')}`; }
  get subnetIP(): string { return this.opts.subnet.split('/')[0]!; }

  /** What upstream writes as the lease value (Go's field order, PublicIPv6 null). */
  leaseValue(): string {
    return JSON.stringify({
      PublicIP: this.opts.publicIP, PublicIPv6: null, BackendType: 'vxlan',
      BackendData: { VNI: this.opts.vni ?? 1, VtepMAC: this.vtepMacValue },
    });
  }

  private ip(args: readonly string[]): Promise<string> {
    return mustExec(['ip', '-n', this.opts.netns, ...args]);
  }

  private etcdctl(args: readonly string[]): Promise<string> {
    return mustExec(inNetns(this.opts.netns, ['etcdctl', `--endpoints=${this.opts.etcdEndpoints}`, ...args]),
      { timeoutMs: 15_000 });
  }

  /** Device, address, lease, subnet.env: everything upstream does before it programs peers. */
  async start(): Promise<void> {
    const links = JSON.parse(await this.ip(['-j', 'link', 'show', 'dev', this.opts.extIface])) as Array<{ mtu: number }>;
    this.mtuValue = links[0]!.mtu - 50;
    await this.createDevice();
    await this.writeLease();
    await mkdir(dirname(this.opts.subnetFile), { recursive: true });
    const [net, len] = this.opts.subnet.split('/');
    const first = net!.replace(/\d+$/, (d) => String(Number(d) + 1));
    await writeFile(this.opts.subnetFile,
      `FLANNEL_NETWORK=${this.opts.network}\nFLANNEL_SUBNET=${first}/${len}\nFLANNEL_MTU=${this.mtuValue}\nFLANNEL_IPMASQ=false\n`);
  }

  private async createDevice(): Promise<void> {
    const port = this.opts.port ?? 0;
    await this.ip(['link', 'add', this.device, 'address', this.vtepMacValue, 'mtu', String(this.mtuValue), 'type', 'vxlan',
      'id', String(this.opts.vni ?? 1), 'local', this.opts.publicIP, 'dev', this.opts.extIface, 'nolearning',
      ...(port > 0 ? ['dstport', String(port)] : [])]);
    await this.ip(['addr', 'add', `${this.subnetIP}/32`, 'dev', this.device]);
    await this.ip(['link', 'set', this.device, 'up']);
  }

  private async writeLease(): Promise<void> {
    if (this.leaseId === '') {
      const out = await this.etcdctl(['lease', 'grant', '86400']);
      this.leaseId = /lease ([0-9a-f]+) granted/.exec(out)?.[1] ?? '';
      if (this.leaseId === '') throw new Error(`etcdctl lease grant: unexpected output ${out}`);
    }
    await this.etcdctl(['put', `--lease=${this.leaseId}`, this.leaseKey, this.leaseValue()]);
  }

  /** The vxlan leases of every other host, as upstream's watcher would see them. */
  async readPeers(): Promise<PeerEntry[]> {
    const out = await this.etcdctl(['get', '--prefix', `${this.prefix}/subnets/`]);
    const lines = out.split('\n').filter((l) => l !== '');
    const peers: PeerEntry[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const m = /\/subnets\/(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(lines[i]!);
      if (!m || `${m[1]}/${m[2]}` === this.opts.subnet) continue;
      const v = JSON.parse(lines[i + 1]!) as { PublicIP: string; BackendType?: string; BackendData?: { VtepMAC?: string } };
      if (v.BackendType !== 'vxlan' || typeof v.BackendData?.VtepMAC !== 'string') continue;
      peers.push({ subnet: `${m[1]}/${m[2]}`, subnetIP: m[1]!, publicIP: v.PublicIP, vtepMac: v.BackendData.VtepMAC });
    }
    return peers;
  }

  /** Programs every current vxlan peer (ARP, FDB, route — upstream's order) and removes vanished ones. */
  async syncPeers(): Promise<void> {
    const peers = await this.readPeers();
    const wanted = new Set(peers.map((p) => p.subnet));
    for (const [subnet, old] of this.programmed) {
      if (!wanted.has(subnet)) {
        await this.removePeer(old);
        this.programmed.delete(subnet);
      }
    }
    for (const p of peers) {
      const old = this.programmed.get(p.subnet);
      if (old && old.vtepMac === p.vtepMac && old.publicIP === p.publicIP) continue;
      if (old) await this.removePeer(old);
      await this.ip(['neigh', 'replace', p.subnetIP, 'lladdr', p.vtepMac, 'dev', this.device, 'nud', 'permanent']);
      await mustExec(['bridge', '-n', this.opts.netns, 'fdb', 'replace', p.vtepMac, 'dev', this.device,
        'dst', p.publicIP, 'self', 'permanent']);
      await this.ip(['route', 'replace', p.subnet, 'via', p.subnetIP, 'dev', this.device, 'onlink']);
      this.programmed.set(p.subnet, p);
    }
  }

  private async removePeer(p: PeerEntry): Promise<void> {
    await execCommand(['ip', '-n', this.opts.netns, 'neigh', 'del', p.subnetIP, 'dev', this.device]);
    await execCommand(['bridge', '-n', this.opts.netns, 'fdb', 'del', p.vtepMac, 'dev', this.device, 'dst', p.publicIP, 'self']);
    await execCommand(['ip', '-n', this.opts.netns, 'route', 'del', p.subnet, 'via', p.subnetIP, 'dev', this.device, 'onlink']);
  }

  /**
   * What upstream does after a reboot (issue #1795): the device comes back with a new random MAC and the lease is
   * rewritten with it. Peers must follow.
   */
  async rebootWithNewMac(mac: string = randomLocalMac()): Promise<string> {
    await execCommand(['ip', '-n', this.opts.netns, 'link', 'del', this.device]);
    this.vtepMacValue = mac;
    this.programmed.clear();
    await this.createDevice();
    await this.writeLease();
    await this.syncPeers();
    return mac;
  }

  /** Deletes its lease (as expiry would); the device stays, as after upstream exits. */
  async deleteLease(): Promise<void> {
    await this.etcdctl(['del', this.leaseKey]);
  }
}

function randomLocalMac(): string {
  const b = Array.from({ length: 6 }, () => Math.floor(Math.random() * 256));
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
