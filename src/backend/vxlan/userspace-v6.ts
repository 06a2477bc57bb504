// The IPv6 half of the vxlan backend on the userspace datapath: the TUN flannel-v6.<VNI> and the IPv6 loops of
// src/datapath (userspace-datapath6.ts), speaking what upstream's kernel flannel-v6.<VNI> device speaks: VXLAN over
// the IPv6 underlay to the peer's PublicIPv6, inner Ethernet to the peer's v6 VtepMAC (BackendV6Data). The device
// gets `<own IPv6 subnet network>/128` and the one route `<IPv6Network> dev flannel-v6.<VNI>`. Used by the dual-stack
// userspace backend (userspace.ts) and, alone, in IPv6-only networks (kernel-v6-only.ts takes any V6Half).
// Built from the kit as the IPv4 half: peer steps from a PeerDiff, its TUN kept by the backend's keeper (reopened
// in place when deleted), its fds kept over a restart or reload by KeptFds.
import { writeFile } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { timeline } from '../../timeline.js';
import { formatCidr6, formatIPv6, nets6Equal, parseIPv6, type Ipv6Net } from '../../net/ipv6.js';
import { ensureAddress6 } from '../../netlink/addresses6.js';
import { deleteLinkIfPresent, getLinkByName, setLinkUp, type LinkInfo } from '../../netlink/links.js';
import { deleteRoute6IfPresent, replaceRoute6 } from '../../netlink/routes6.js';
import { checkIPv6SubnetLen } from '../../datapath/peer-table6.js';
import { datapath6From, type UserspaceDatapath6 } from '../../datapath/userspace-datapath6.js';
import type { Ipv6NetworkConfig } from '../../config/network-config.js';
import type { BackendContext, BackendSettings, BackendWork } from '../backend.js';
import { applySteps } from '../kit/apply-steps.js';
import type { KeptDevice } from '../kit/keeper.js';
import { KeptFds } from '../kit/kept-fds.js';
import type { PeerDiff, PeerStep } from '../kit/peer-diff.js';
import { keptTun, openedTunLink, removeTun } from '../kit/tun-device.js';
import type { DatapathFds, DatapathHandover } from '../../reload/handover.js';
import { type Loop6Config, net6FromWords, sameLoop6Config } from '../../reload/handover6.js';
import { type Inherited, takeDatapath } from '../../reload/inbox.js';
import type { PeerTable6Op } from '../../datapath/peer-table6.js';
import type { VxlanConfig } from './config.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import { isOnOurL2v6 } from './direct-routing.js';
import { v6PeerDiff, v6PeerMoved, vxlanV6DeviceName, type V6Peer } from './kernel-v6.js';
import type { V6Half } from './v6-half.js';
import { VtepIdentity } from './vtep-identity.js';

export type { V6Half } from './v6-half.js';

type VxlanSettings = NonNullable<BackendSettings['vxlan']>;

export interface UserspaceV6Options {
  readonly vni: number;
  readonly port: number;
  readonly mtu: number;
  readonly outerMtu: number;
  readonly localIP6: string;
  readonly network: Ipv6NetworkConfig;
  readonly stateDir: string;
  readonly allowForeignSource: boolean;
  /** Backend.DirectRouting: a peer on our L2 gets a kernel route via its PublicIPv6 (its frames are still accepted). */
  readonly directRouting: boolean;
  /** The loop's busy-poll in µs (absent: the datapath's default). */
  readonly spinMicros?: number;
  readonly fifoPriority?: number;
  /** --vxlan-send-path (absent: auto). */
  readonly sendPath?: 'auto' | 'tunnel-gso' | 'segment';
  /** The backend's queue: a reload's pause and a VtepMAC change run in line with the peer updates. */
  readonly work: BackendWork;
  /** Publishes new BackendV6Data in our lease (our VtepMAC changed after a clash). */
  readonly republish?: (backendV6Data: VxlanBackendData) => void;
  /** Level of the per-peer lines (default info); dual stack: debug, the lease's IPv4 half already logs the peer. */
  readonly peerLines?: 'info' | 'debug';
  readonly log: Logger;
}

/**
 * The loops (of a fresh datapath, or on adopted queues) start only once the peers are known (the first reset), as
 * the IPv4 half's: what queued on the TUN and the sockets meanwhile is forwarded, not answered "no route", and the
 * threads' creation and JIT warm-up stay off the path to subnet.env. This long at most, should etcd not list them.
 */
const PEERS_WAIT_MS = 5_000;

export class UserspaceVxlanV6 implements V6Half {
  readonly deviceName: string;
  readonly kept: KeptDevice;
  private readonly vtep: VtepIdentity;
  private readonly localIP6: bigint;
  private datapath: UserspaceDatapath6 | null = null;
  private device: LinkInfo | null = null;
  private own: Ipv6Net | null = null;
  /** Peers by peer key (kit/peer-diff.ts), as handed to the loops (direct ones too: their frames are accepted). */
  private readonly peers = new Map<string, V6Peer>();
  private readonly diff: PeerDiff<V6Peer>;
  private readonly fds: KeptFds;
  /** The loops run once the peers are known (see PEERS_WAIT_MS). */
  private waitForPeers = false;
  /** Peers in the loops' table from a previous process: those etcd no longer lists go at the first reset. */
  private seeded: PeerTable6Op[] | null = null;
  private stopped = false;
  /** The TUN and sockets being opened since register(). */
  private opening: Promise<void> | null = null;

  constructor(private readonly o: UserspaceV6Options) {
    this.deviceName = vxlanV6DeviceName(o.vni);
    checkIPv6SubnetLen(o.network.network, o.network.subnetLen);
    this.vtep = new VtepIdentity(o.stateDir, this.deviceName, o.log);
    const local = parseIPv6(o.localIP6);
    if (local === null) {
      throw new Error(`the IPv6 external address ${JSON.stringify(o.localIP6)} is not IPv6: check --public-ipv6`);
    }
    this.localIP6 = local;
    // Nothing for an IPv4-only peer or our own lease; a peer that publishes our VtepMAC (a cloned --state-dir)
    // makes us take a new one, in line with the peer updates.
    this.diff = v6PeerDiff({ own: () => this.own, local: () => ({ publicIPv6: local, vtepMac: this.vtep.mac }),
      onClash: (peer, key) => o.work.post('new IPv6 VtepMAC', () => this.leaveClash(peer, key)) }, o.log);
    this.fds = new KeptFds({ device: this.deviceName, log: o.log, work: o.work, pause: () => this.pauseForReload(),
      resume: () => this.datapath?.resumeLoops() });
    this.kept = keptTun(this.deviceName, () => this.device?.index ?? null, () => this.reopen());
  }

  backendV6Data(): VxlanBackendData {
    return { VNI: this.o.vni, VtepMAC: this.vtep.mac };
  }

  /** As the IPv4 half's: the TUN and sockets open while etcd answers; start() waits for them. */
  async register(): Promise<void> {
    await this.vtep.load(false);
    const inherited = takeDatapath(this.deviceName);
    this.opening = this.open(inherited);
    this.opening.catch(() => undefined);
  }

  async start(own: Ipv6Net | null): Promise<void> {
    await this.opening;
    this.own = own;
    const datapath = this.datapath;
    if (own && datapath && !datapath.started) {
      this.waitForPeers = true;
      setTimeout(() => this.o.work.post('start the waiting IPv6 loops', async () => this.startLoops()), PEERS_WAIT_MS)
        .unref();
    } else if (own) {
      datapath?.start(own);
    }
    await this.resync();
  }

  async resetPeers(leases: readonly Lease[]): Promise<void> {
    await applySteps(this.diff.reset(leases, this.peers.keys()), (step) => this.apply(step));
    this.dropStaleSeeded();
    this.startLoops();
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    await applySteps(this.diff.events(events), (step) => this.apply(step));
  }

  async remove(key: string): Promise<void> {
    await this.apply({ op: 'remove', key });
  }

  /** Address, link up and route again (the keeper has checked the TUN itself); DirectRouting routes back. */
  async resync(): Promise<void> {
    if (!this.device || !this.own || this.stopped) return;
    await ensureAddress6(this.device.index, this.own.ip, 128);
    await setLinkUp(this.device.index);
    await replaceRoute6({ dst: this.o.network.network, oif: this.device.index });
    // A DirectRouting route deleted by hand comes back (replace is a no-op for one in place).
    for (const p of this.peers.values()) if (p.direct) await this.directRoute(p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.opening?.catch(() => undefined);
    this.fds.withdraw();
    await this.datapath?.stop();
    this.datapath = null;
  }

  async teardown(): Promise<void> {
    await this.stop();
    this.fds.forget();
    await removeTun(this.deviceName, this.o.log);
    this.device = null;
  }

  counters(prefix = 'v6_'): Readonly<Record<string, number>> {
    const out: Record<string, number> = { [`${prefix}peers`]: this.peers.size };
    for (const [k, v] of Object.entries(this.datapath?.counters() ?? {})) out[`${prefix}${k}`] = v;
    return out;
  }

  private async apply(step: PeerStep<V6Peer>): Promise<void> {
    if (step.op === 'remove') {
      const old = this.peers.get(step.key);
      if (!old) return;
      this.peers.delete(step.key);
      await this.forget(old, true);
      this.o.log[this.o.peerLines ?? 'info']({ subnet: formatCidr6(old.subnet) }, 'IPv6 peer removed');
      return;
    }
    const peer: V6Peer = { ...step.peer };
    peer.direct = this.o.directRouting && await isOnOurL2v6(peer.publicIPv6, formatCidr6(peer.subnet), this.o.log);
    const old = this.peers.get(step.key);
    if (old && !v6PeerMoved(old, peer) && old.direct === peer.direct) return;
    if (old) await this.forget(old, !nets6Equal(old.subnet, peer.subnet));
    this.peers.set(step.key, peer);
    this.datapath?.setPeer(peer.subnet, peer.publicIPv6, peer.vtepMac);
    if (peer.direct) await this.directRoute(peer);
    this.o.log[this.o.peerLines ?? 'info']({ subnet: formatCidr6(peer.subnet), vtepMac: peer.vtepMac, direct: peer.direct },
      old ? 'IPv6 peer changed' : 'IPv6 peer added');
  }

  private dropStaleSeeded(): void {
    const seeded = this.seeded;
    this.seeded = null;
    if (!seeded || !this.datapath) return;
    const listed = new Set([...this.peers.values()].map((p) => p.subnet.ip));
    for (const op of seeded) {
      if (op.op !== 'set') continue;
      const net = net6FromWords(op.subnet, this.o.network.subnetLen);
      if (!listed.has(net.ip)) this.datapath.deletePeer(net);
    }
  }

  /** Starts loops held back for the peers; a no-op once they run. */
  private startLoops(): void {
    if (!this.waitForPeers || !this.own || !this.datapath || this.stopped) return;
    this.waitForPeers = false;
    this.datapath.start(this.own);
    timeline.mark('IPv6 datapath loops started');
  }

  /**
   * Another host publishes our VtepMAC (a cloned --state-dir): a new one, kept, and BackendV6Data republished, as the
   * kernel flannel-v6.<VNI> does. The loops take their MAC at start, so new loops run on the same fds (the TUN keeps
   * its carrier, address and route) with the new MAC and the same peers.
   */
  private async leaveClash(peer: V6Peer, key: string): Promise<void> {
    const clashing = { vtepMac: peer.vtepMac, publicIP: formatIPv6(peer.publicIPv6), key };
    const old = this.stopped ? null : await this.vtep.leave(clashing);
    if (old === null) return;
    const running = this.datapath;
    if (running) {
      const wasStarted = running.started;
      await running.pauseLoops();
      // Its TAP goes: the new datapath opens its own (the same device), the FORWARD rule kept for it.
      running.releaseTap();
      this.datapath = this.newDatapath(running.fds());
      for (const p of this.peers.values()) this.datapath.setPeer(p.subnet, p.publicIPv6, p.vtepMac);
      if (this.own && wasStarted) this.datapath.start(this.own);
    }
    this.vtep.announce(old, clashing);
    this.o.republish?.(this.backendV6Data());
  }

  /** Its DirectRouting route goes; with `fromTable`, its entry in the loops' table too. */
  private async forget(p: V6Peer, fromTable: boolean): Promise<void> {
    if (fromTable) this.datapath?.deletePeer(p.subnet);
    if (p.direct) {
      await deleteRoute6IfPresent({ dst: p.subnet, gateway: p.publicIPv6 }).catch((err: unknown) =>
        this.o.log.warn({ subnet: formatCidr6(p.subnet) },
          `removing the DirectRouting route failed: ${(err as Error).message}`));
    }
  }

  /** Never throws: without it the TUN route still carries the peer's traffic. */
  private async directRoute(p: V6Peer): Promise<void> {
    await replaceRoute6({ dst: p.subnet, gateway: p.publicIPv6 }).catch((err: unknown) => this.o.log.error(
      { subnet: formatCidr6(p.subnet) },
      `DirectRouting route failed, traffic goes through ${this.deviceName}: ${(err as Error).message}`));
  }

  /** The keeper found the TUN gone: a new one with the same name, addressed and routed; the loops keep the peers. */
  private async reopen(): Promise<void> {
    const datapath = this.datapath;
    if (this.stopped || !datapath) return;
    await datapath.reopenTun();
    this.fds.keep(datapath.fds());
    await this.openedLink('reopened');
    await this.resync();
    this.o.log.info({ index: this.device?.index, peers: this.peers.size },
      `TUN device ${this.deviceName} reopened, addressed and routed`);
  }

  /**
   * Opens the TUN (replacing a kernel vxlan device of the same name) and the loops' sockets, or takes the ones a
   * reload or systemd's fd store left us.
   */
  private async open(inherited: Inherited | null): Promise<void> {
    // IPv4 loops on these fds would be a mix-up of names: they go, and the fds with them.
    if (inherited?.running) await inherited.running.stop();
    const early = inherited?.running6 ?? null;
    if (early && sameLoop6Config(early.loopConfig(), this.newConfig())) {
      // A reload's loops, already forwarding with the table they had: kept; etcd's list corrects the table.
      this.datapath = early;
      this.seeded = inherited!.handover.loops6?.peers.filter((op) => op.op === 'set') ?? null;
      await this.openedLink('created');
      this.fds.keep(early.fds());
      return;
    }
    if (early) {
      this.o.log.info('the IPv6 datapath settings changed during the reload: its loops restart with the new ones');
      await early.pauseLoops();
      early.releaseTap();
    }
    const adopt = early ? early.fds() : inherited && !inherited.running ? inherited.handover : null;
    const existing = await getLinkByName(this.deviceName);
    if (!adopt && existing && existing.kind !== 'tun') {
      this.o.log.info({ kind: existing.kind }, 'replacing the existing non-TUN device with the userspace datapath\'s TUN');
      await deleteLinkIfPresent(existing.index);
    }
    this.datapath = this.newDatapath(adopt ?? undefined);
    this.fds.keep(this.datapath.fds());
    await this.openedLink('created');
  }

  /** The opened TUN's link, with our MTU and no router advertisements taken. */
  private async openedLink(how: 'created' | 'reopened'): Promise<void> {
    const link = await openedTunLink(this.deviceName, this.o.mtu, how);
    await writeFile(`/proc/sys/net/ipv6/conf/${this.deviceName}/accept_ra`, '0').catch(() => undefined);
    this.device = link;
  }

  /** A datapath with our settings and current VtepMAC, on `adopt` when given (else on fds of its own). */
  private newDatapath(adopt?: DatapathFds): UserspaceDatapath6 {
    return datapath6From(this.deviceName, this.newConfig(), this.o.log, adopt);
  }

  /** The loops' settings from our config: a reload's loops running other ones are restarted with these. */
  private newConfig(): Loop6Config {
    const o = this.o;
    return { vni: o.vni, port: o.port, ownMac: this.vtep.mac, localIP6: this.localIP6, network: o.network.network,
      subnetLen: o.network.subnetLen, innerMtu: o.mtu, outerMtu: o.outerMtu, spinMicros: o.spinMicros ?? null,
      fifoPriority: o.fifoPriority || null, allowForeignSource: o.allowForeignSource, sendPath: o.sendPath ?? null };
  }

  /**
   * A reload's pause: the loops stop between batches; their table and settings let the next process run them
   * before it asks etcd anything (the IPv4 peers list stays empty: this device carries none).
   */
  private async pauseForReload(): Promise<DatapathHandover> {
    const datapath = this.datapath;
    if (!datapath) throw new Error(`${this.deviceName} has no open datapath`);
    await datapath.pauseLoops();
    return { device: this.deviceName, ...datapath.fds(), peers: [],
      loops6: { loops: datapath.loopConfig(), peers: datapath.peerReplay() } };
  }
}

/** The IPv6 half on the userspace datapath (flannel-v6.<VNI> over the IPv6 underlay). */
export function userspaceV6Half(ctx: BackendContext, config: VxlanConfig, settings: VxlanSettings, mtu: number,
  extAddr6: string, log: Logger, peerLines: 'info' | 'debug' = 'info'): UserspaceVxlanV6 {
  const ipv6 = ctx.network.ipv6;
  if (!ipv6) throw new Error('the IPv6 half of the vxlan backend needs EnableIPv6 and IPv6Network in the network config');
  return new UserspaceVxlanV6({ vni: config.vni, port: config.port, mtu, outerMtu: ctx.extIface.mtu, localIP6: extAddr6,
    network: ipv6, stateDir: ctx.stateDir, allowForeignSource: settings.allowForeignSource ?? false,
    directRouting: config.directRouting, work: ctx.work, peerLines, ...(ctx.republishV6 ? { republish: ctx.republishV6 } : {}),
    ...(settings.sendPath ? { sendPath: settings.sendPath } : {}),
    // As the IPv4 loops: a SCHED_FIFO setting means no spin; else --vxlan-busy-poll or the default.
    ...(settings.loopPriority ? { spinMicros: 0, fifoPriority: settings.loopPriority }
      : settings.busyPoll !== undefined ? { spinMicros: settings.busyPoll } : {}),
    log: log.child({ device: `flannel-v6.${config.vni}` }) });
}

/** The IPv6 half of a dual-stack network; null without EnableIPv6 or an IPv6 external address (no IPv6 then). */
export function dualStackV6Half(ctx: BackendContext, config: VxlanConfig, settings: VxlanSettings, mtu: number,
  log: Logger): UserspaceVxlanV6 | null {
  const extAddr6 = ctx.extIface.extAddr6;
  return ctx.network.ipv6 && extAddr6 ? userspaceV6Half(ctx, config, settings, mtu, extAddr6, log, 'debug') : null;
}
