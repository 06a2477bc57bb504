// The main thread's handle on the IPv6 half of the userspace VXLAN datapath: the TUN flannel-v6.<VNI> (IFF_VNET_HDR,
// TSO6 reads; one queue per loop), an IPv6 UDP socket per queue on the VXLAN port (SO_REUSEPORT) and sending sockets
// bound to our IPv6 address, and one loop thread per queue doing both directions (loop6-worker.ts), each kept alive
// by a LoopSupervisor, as the IPv4 datapath's default layout. Peer changes go to the loops as messages between
// batches. Policy (which peers) is the backend's (src/backend/vxlan/userspace-v6.ts). The send path is chosen as
// the IPv4 datapath's (send-path-tap.ts), with a TAP of its own for outer IPv6 frames (tunnel-tap6.ts).
import path from 'node:path';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Ipv6Net } from '../net/ipv6.js';
import type { DatapathFds } from '../reload/handover.js';
import type { Datapath6Settings, Loop6Config } from '../reload/handover6.js';
import { newCounterBuffer, readCounters, type CounterName } from './counters.js';
import { DEFAULT_SPIN_MICROS, defaultLoopCount } from './datapath-options.js';
import type { Loop6WorkerData } from './loop6-worker.js';
import { startLoopWorker } from './loop-worker-start.js';
import { haltLoops, LoopSupervisor } from './loop-supervisor.js';
import { tunIo, wakeIo } from './native.js';
import { udp6Io } from './native6.js';
import { checkIPv6SubnetLen, ip6Words, type PeerTable6Op } from './peer-table6.js';
import type { SendPath, SendPathChoice } from './send-path.js';
import { SendPathTap, type TapKit } from './send-path-tap.js';
import { closeTunnelTap6, openTunnelTap6, tunnelTap6Name } from './tunnel-tap6.js';
import { openTunQueues } from './tun-queues.js';
import { TUN_F_CSUM, TUN_F_TSO6, TUN_F_TSO_ECN } from './virtio-hdr.js';
import { macBytes } from './wire.js';

const SOCKET_BUFFER = 4 * 1024 * 1024;
const SEND_SOCKETS = 4;
const STOP_GRACE_MS = 2000;
/** The TUN's offloads: TSO6 reads (and the checksum left to us) for every queue. */
const TUN6_OFFLOADS = TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN;

export interface Datapath6Options extends Datapath6Settings {
  readonly tunName: string;
  readonly allowForeignSource?: boolean;
  /** The loop's busy-poll after traffic in µs (--vxlan-busy-poll; default DEFAULT_SPIN_MICROS). */
  readonly spinMicros?: number;
  /** Loop threads, one per TUN queue (default: defaultLoopCount(), as the IPv4 datapath). */
  readonly loops?: number;
  /** --vxlan-loop-priority: SCHED_FIFO priority of the loop thread (0: normal scheduling). */
  readonly fifoPriority?: number;
  /** Fds a previous process left open (reload, fd store): used instead of opening new ones. */
  readonly adopt?: DatapathFds;
  /** --vxlan-send-path (default auto: tunnel-gso where the kernel has it). */
  readonly sendPath?: SendPathChoice;
  readonly log: Logger;
}

const IPV6_TAP: TapKit = {
  name: tunnelTap6Name, open: (name, queues) => openTunnelTap6(name, queues), close: closeTunnelTap6,
  confDir: '/proc/sys/net/ipv6/conf',
};

interface Loop {
  readonly supervisor: LoopSupervisor;
  port: MessagePort | null;
  /** Signalled after peer updates and at stop, so an idle loop sleeps (wake.cc); kept across respawns. */
  readonly wakeFd: number;
}

export class UserspaceDatapath6 {
  private readonly tun = tunIo();
  private readonly wake = wakeIo();
  private readonly tunFds: number[] = [];
  private readonly udpFds: number[] = [];
  private readonly sendFds: number[] = [];
  private readonly counterBuffer: SharedArrayBuffer;
  private control = new SharedArrayBuffer(8);
  private own: PeerTable6Op | null = null;
  private readonly sets = new Map<string, PeerTable6Op>();
  private loops: Loop[] = [];
  private closed = false;
  private readonly tap: SendPathTap;
  /** TUN queues (and loops), fixed for the datapath's life: a reopened TUN gets as many. */
  private readonly queues: number;

  constructor(private readonly o: Datapath6Options) {
    macBytes(o.ownMac);
    checkIPv6SubnetLen(o.network, o.subnetLen);
    this.tap = new SendPathTap(o.log, IPV6_TAP);
    const udp = udp6Io();
    if (o.adopt) {
      this.tunFds.push(...o.adopt.tunFds);
      this.udpFds.push(...o.adopt.udpFds.slice(0, this.tunFds.length));
      this.sendFds.push(...o.adopt.sendFds);
      this.counterBuffer = newCounterBuffer(this.tunFds.length);
      this.queues = this.tunFds.length;
      this.chooseSendPath();
      return;
    }
    this.tunFds.push(...openTunQueues(this.tun, o.tunName, o.loops ?? defaultLoopCount(), true, TUN6_OFFLOADS, o.log));
    this.queues = this.tunFds.length;
    this.counterBuffer = newCounterBuffer(this.tunFds.length);
    try {
      for (let q = 0; q < this.tunFds.length; q++) {
        this.udpFds.push(udp.udp6Open(new Uint32Array(4), o.port,
          { rcvbuf: SOCKET_BUFFER, gro: true, reusePort: this.tunFds.length > 1 }));
      }
      const local = Uint32Array.from(ip6Words(o.localIP6));
      for (let i = 0; i < SEND_SOCKETS; i++) this.sendFds.push(udp.udp6Open(local, 0, { sndbuf: SOCKET_BUFFER }));
      this.chooseSendPath();
    } catch (err) {
      this.closeFds();
      throw err;
    }
  }

  /** The send path the loops run: tunnel-gso (whole frames into the TAP) or segment. */
  get sendPath(): SendPath {
    return this.tap.path;
  }

  /**
   * Closes the TAP of paused loops whose fds another datapath takes over (it opens the TAP again); the ip6tables
   * FORWARD rule stays for that one.
   */
  releaseTap(): void {
    this.tap.release();
  }

  private chooseSendPath(): void {
    // Offloads are always on for this TUN (TSO6 reads); the local address is the sending sockets' own.
    this.tap.choose({ tunName: this.o.tunName, offloads: true, localIP: this.o.localIP6 === 0n ? 0 : 1,
      framing: 'vxlan', ...(this.o.sendPath ? { sendPath: this.o.sendPath } : {}) }, this.tunFds.length);
  }

  /** Starts the loops (once), receiving for our own IPv6 subnet `own`; again: only `own` is updated. */
  start(own: Ipv6Net): void {
    if (this.closed) throw new Error('IPv6 datapath already stopped');
    const words = ip6Words(own.ip);
    this.post({ op: 'own', subnet: [words[0]!, words[1]!], prefixLen: own.prefixLen });
    if (this.loops.length > 0) return;
    this.loops = this.tunFds.map((_, q) => this.supervise(q));
    for (const l of this.loops) l.supervisor.start();
  }

  setPeer(subnet: Ipv6Net, publicIPv6: bigint, mac: string): void {
    const w = ip6Words(subnet.ip);
    this.post({ op: 'set', subnet: [w[0]!, w[1]!], publicIP: ip6Words(publicIPv6), mac: [...macBytes(mac)] });
  }

  deletePeer(subnet: Ipv6Net): void {
    const w = ip6Words(subnet.ip);
    this.post({ op: 'delete', subnet: [w[0]!, w[1]!] });
  }

  /** The open fds, for a reload that keeps them across an exec or in systemd's fd store. */
  fds(): DatapathFds {
    return { tunFds: [...this.tunFds], udpFds: [...this.udpFds], sendFds: [...this.sendFds] };
  }

  /** What a handover needs to run the same loops again in the next process. */
  loopConfig(): Loop6Config {
    const o = this.o;
    return { vni: o.vni, port: o.port, ownMac: o.ownMac, localIP6: o.localIP6, network: o.network, subnetLen: o.subnetLen,
      innerMtu: o.innerMtu, outerMtu: o.outerMtu, spinMicros: o.spinMicros ?? null, fifoPriority: o.fifoPriority || null,
      allowForeignSource: o.allowForeignSource ?? false, sendPath: o.sendPath ?? null };
  }

  /** The peer table the loops hold, as a replay (our own subnet, then one set per peer). */
  peerReplay(): PeerTable6Op[] {
    return this.replay();
  }

  /** Fills the peer table from a previous process's replay, before start(). */
  seedPeers(ops: readonly PeerTable6Op[]): void {
    for (const op of ops) this.post(op);
  }

  /** True once start() ran the loops (an adopting half starts them when it knows the peers). */
  get started(): boolean {
    return this.loops.length > 0;
  }

  /**
   * Stops the loops between two batches and keeps the fds open (a reload): what arrives meanwhile queues in the
   * kernel for whoever reads on.
   */
  async pauseLoops(): Promise<void> {
    Atomics.store(new Int32Array(this.control), 0, 1);
    this.wakeLoops();
    await haltLoops(this.loops, STOP_GRACE_MS);
    this.control = new SharedArrayBuffer(8);
  }

  /**
   * The TUN was deleted (by hand, by another tool): the loops pause, the dead queues close, the device is made again
   * with the same name, queues and offloads, and the loops resume with their table; sockets and TAP stay. The caller
   * re-addresses the device. Throws when it cannot be made; the caller retries.
   */
  async reopenTun(): Promise<void> {
    if (this.closed) return;
    await this.pauseLoops();
    for (const fd of this.tunFds.splice(0)) this.tun.closeFd(fd);
    this.tunFds.push(...openTunQueues(this.tun, this.o.tunName, this.queues, true, TUN6_OFFLOADS, this.o.log));
    this.resumeLoops();
  }

  /** Restarts the loops paused by pauseLoops() (a reload that failed). */
  resumeLoops(): void {
    if (this.closed) return;
    for (const l of this.loops) l.supervisor.start();
  }

  /** The loops' counters, with `send_path_tunnel_gso` 1 when the tunnel-GSO send path runs (0: segment). */
  counters(): Record<CounterName | 'loop_restarts' | 'send_path_tunnel_gso', number> {
    const restarts = this.loops.reduce((n, l) => n + l.supervisor.restarts, 0);
    return { ...readCounters(this.counterBuffer), loop_restarts: restarts,
      send_path_tunnel_gso: this.sendPath === 'tunnel-gso' ? 1 : 0 };
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(new Int32Array(this.control), 0, 1);
    this.wakeLoops();
    await haltLoops(this.loops, STOP_GRACE_MS);
    for (const l of this.loops) this.tun.closeFd(l.wakeFd);
    this.loops = [];
    this.closeFds();
  }

  private replay(): PeerTable6Op[] {
    return this.own ? [this.own, ...this.sets.values()] : [...this.sets.values()];
  }

  private post(op: PeerTable6Op): void {
    if (op.op === 'own') this.own = op;
    else if (op.op === 'set') this.sets.set(op.subnet.join(':'), op);
    else this.sets.delete(op.subnet.join(':'));
    for (const l of this.loops) l.port?.postMessage(op);
    Atomics.add(new Int32Array(this.control), 1, 1);
    this.wakeLoops();
  }

  private wakeLoops(): void {
    for (const l of this.loops) this.wake.wakeFdSignal(l.wakeFd);
  }

  private supervise(queue: number): Loop {
    const loop: Loop = {
      port: null,
      wakeFd: this.wake.wakeFdOpen(),
      supervisor: new LoopSupervisor({ role: `v6-queue${queue}`, log: this.o.log, spawn: () => this.spawn(loop, queue) }),
    };
    return loop;
  }

  private spawn(loop: Loop, queue: number): Worker {
    loop.port?.close();
    this.tap.check();
    const { port1, port2 } = new MessageChannel();
    const o = this.o;
    const tap = this.tap.tap;
    const data: Loop6WorkerData = {
      tunFd: this.tunFds[queue]!, udpFd: this.udpFds[queue]!, sendFds: this.sendFds, port: o.port, vni: o.vni,
      ownMac: [...macBytes(o.ownMac)], network: o.network, subnetLen: o.subnetLen, innerMtu: o.innerMtu,
      outerMtu: o.outerMtu, allowForeignSource: o.allowForeignSource ?? false,
      spinMicros: o.spinMicros ?? DEFAULT_SPIN_MICROS, fifoPriority: o.fifoPriority ?? 0, counters: this.counterBuffer,
      counterBlock: queue, control: this.control, updates: port2, initial: this.replay(), wakeFd: loop.wakeFd,
      ...(tap !== null ? { tunnel: { tapFd: tap.fds[queue % tap.fds.length]!, tapName: tap.name, tapMac: tap.mac,
        localIP6: ip6Bytes(o.localIP6) } } : {}),
    };
    const worker = startLoopWorker(path.join(__dirname, 'loop6-worker.js'), data, port2);
    loop.port = port1;
    return worker;
  }

  private closeFds(): void {
    for (const fd of [...this.tunFds, ...this.udpFds, ...this.sendFds]) {
      if (typeof fd === 'number' && fd >= 0) this.tun.closeFd(fd);
    }
    this.tap.close();
  }
}

/** An IPv6 address as its 16 bytes. */
function ip6Bytes(ip: bigint): number[] {
  return Array.from({ length: 16 }, (_, i) => Number((ip >> BigInt(8 * (15 - i))) & 0xffn));
}

/** The IPv6 datapath running `l` (a backend's settings, or a handover's) on `adopt` or on fds of its own. */
export function datapath6From(tunName: string, l: Loop6Config, log: Logger, adopt?: DatapathFds): UserspaceDatapath6 {
  return new UserspaceDatapath6({
    tunName, vni: l.vni, port: l.port, ownMac: l.ownMac, localIP6: l.localIP6, network: l.network,
    subnetLen: l.subnetLen, innerMtu: l.innerMtu, outerMtu: l.outerMtu, allowForeignSource: l.allowForeignSource,
    ...(l.spinMicros !== null ? { spinMicros: l.spinMicros } : {}),
    ...(l.fifoPriority !== null ? { fifoPriority: l.fifoPriority } : {}),
    ...(l.sendPath ? { sendPath: l.sendPath } : {}),
    ...(adopt ? { adopt } : {}), log,
  });
}
