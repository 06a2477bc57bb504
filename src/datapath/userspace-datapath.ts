// The main thread's handle on the userspace VXLAN datapath: opens the TUN device and the UDP sockets, runs the loop
// threads (one per TUN queue, each both directions; or the tx/rx pipeline), forwards peer changes to them without
// stopping them, and reads their counters. Policy (which device, which peers) belongs to the backend
// (src/backend/vxlan/userspace.ts).
// Robustness: a loop thread that dies is restarted by a LoopSupervisor; a TUN deleted under the loops is reopened
// by reopenTun() (the backend calls it when the netlink monitor reports the deletion, or when onTunLost fires).
// Its options and their host-dependent defaults: datapath-options.ts; the send path and its TAP: send-path-tap.ts.
import path from 'node:path';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { log as rootLog, type Logger } from '../log.js';
import type { Ipv4Net } from '../net/ipv4.js';
import { newCounterBuffer, readCounters, type CounterName } from './counters.js';
import { defaultLoopCount, defaultSpinMicros, type DatapathOptions } from './datapath-options.js';
import type { LoopWorkerData } from './loop-worker.js';
import { startLoopWorker } from './loop-worker-start.js';
import { haltLoops, isTunGoneError, LoopSupervisor } from './loop-supervisor.js';
import type { DatapathFds, LoopConfig } from '../reload/handover.js';
import { tunIo, udpIo, wakeIo } from './native.js';
import { PeerReplayLog } from './peer-log.js';
import { subnetSlots, type PeerTableOp } from './peer-table.js';
import type { SendPath } from './send-path.js';
import { SendPathTap } from './send-path-tap.js';
import { openTunQueues } from './tun-queues.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN } from './virtio-hdr.js';
import { macBytes } from './wire.js';

export { DEFAULT_SPIN_MICROS, defaultLoopCount, defaultSpinMicros, type DatapathOptions } from './datapath-options.js';

const SOCKET_BUFFER = 4 * 1024 * 1024;
const STOP_GRACE_MS = 2000;

interface Loop {
  readonly supervisor: LoopSupervisor;
  /** Both-direction loops: the eventfd that wakes it for peer updates and stop (closed with the datapath). */
  readonly wakeFd?: number;
  /** The current worker's end of its peer-update channel (replaced on every restart). */
  port: MessagePort | null;
}

export class UserspaceDatapath {
  private readonly tun = tunIo();
  private readonly udp = udpIo();
  private readonly wake = wakeIo();
  private readonly counterBuffer: SharedArrayBuffer;
  /**
   * Int32 [0] = 1 tells the loops to stop; [1] counts posts of peer updates (see LoopWorkerData.control). A fresh
   * buffer per generation of loops (see reopenTun).
   */
  private control = new SharedArrayBuffer(8);
  /** What the loops' peer tables hold, to feed loops started later; the loops own the only tables. */
  private readonly peerLog = new PeerReplayLog();
  private loops: Loop[] = [];
  private closed = false;
  private tunLost = false;
  private tunReopens = 0;
  private tunLostHandler: (() => void) | null = null;
  private readonly log: Logger;
  /** One fd per TUN queue. */
  private tunFds: number[] = [];
  /** One receiving socket per TUN queue (all on the port). */
  private readonly udpFds: number[] = [];
  /** Sending sockets, shared by the loops: one per outer source port. */
  private readonly sendFds: number[] = [];
  private readonly pipeline: boolean;
  /** TUN queues, and loops doing both directions (1 in the pipeline layout, which has a tx and an rx loop). */
  readonly queues: number;
  /** The send path the loops run (chosen at construction; segment from then on if the TAP is lost). */
  get sendPath(): SendPath {
    return this.tap.path;
  }
  private readonly tap: SendPathTap;
  private sendPathChosen = false;

  constructor(private readonly opts: DatapathOptions) {
    this.log = opts.log ?? rootLog.child({ component: 'datapath', device: opts.tunName });
    this.tap = new SendPathTap(this.log);
    macBytes(opts.ownMac);
    subnetSlots(opts.network, opts.subnetLen);
    const loops = opts.loops ?? defaultLoopCount();
    if (loops !== 'pipeline' && (!Number.isInteger(loops) || loops < 1 || loops > 64)) {
      throw new Error(`invalid datapath loops ${JSON.stringify(loops)}: use a whole number from 1 to 64, `
        + 'or "pipeline"');
    }
    // Adopted queues decide the layout: the pipeline runs over one queue only.
    this.pipeline = loops === 'pipeline' && (opts.adopt?.tunFds.length ?? 1) === 1;
    if (opts.adopt) {
      this.tunFds = [...opts.adopt.tunFds];
      this.udpFds.push(...opts.adopt.udpFds.slice(0, this.tunFds.length));
      this.sendFds.push(...opts.adopt.sendFds);
      this.queues = this.tunFds.length;
      this.counterBuffer = newCounterBuffer(this.pipeline ? 2 : this.queues);
      // The TAP does not travel with the fds (it closed with the previous process): it is opened again before any
      // loop runs (chooseSendPath), so that the loops resume on the send path they had.
      this.chooseSendPath(true);
      return;
    }
    this.tunFds = this.openTun(loops === 'pipeline' ? 1 : loops);
    this.queues = this.tunFds.length;
    this.counterBuffer = newCounterBuffer(this.pipeline ? 2 : this.queues);
    try {
      for (let q = 0; q < this.queues; q++) {
        this.udpFds.push(this.udp.udpOpen(0, opts.port,
          { rcvbuf: SOCKET_BUFFER, gro: opts.gro ?? true, reusePort: this.queues > 1 }));
      }
      for (let i = 0; i < (opts.sourcePorts ?? 8); i++) {
        this.sendFds.push(this.udp.udpOpen(opts.localIP, 0, { sndbuf: SOCKET_BUFFER }));
      }
      this.chooseSendPath(true);
    } catch (err) {
      this.closeFds();
      throw err;
    }
  }

  /**
   * Starts the loops, receiving for our own subnet `own` (again: only `own` is updated, for a re-acquired lease).
   * Receive delivers nothing addressed outside `own`.
   */
  start(own: Ipv4Net): void {
    if (this.closed) throw new Error('datapath already stopped');
    this.post({ op: 'own', subnetIP: own.ip >>> 0, prefixLen: own.prefixLen });
    if (this.loops.length > 0) return;
    this.chooseSendPath(false);
    this.loops = this.pipeline
      ? [this.supervise('tx', 'tx', 0, 0), this.supervise('rx', 'rx', 1, 0)]
      : this.tunFds.map((_, q) => this.supervise(`queue${q}`, 'both', q, q));
    for (const l of this.loops) l.supervisor.start();
  }

  /** True once start() has created the loops (adopted running loops included), until stop(). */
  get started(): boolean {
    return this.loops.length > 0;
  }

  /**
   * The TUN was deleted (by hand, by another tool): stops the loops, closes the dead fd, creates the device again
   * with the same name and offloads, and restarts the loops with the peers they had. The caller re-addresses the
   * device (address, MTU, up and the route went with the old one). Throws when the device cannot be made; the
   * caller retries.
   */
  async reopenTun(): Promise<void> {
    if (this.closed) return;
    await this.stopLoops();
    for (const fd of this.tunFds) this.tun.closeFd(fd);
    this.tunFds = [];
    this.tunFds = this.openTun(this.queues);
    this.tunLost = false;
    this.tunReopens++;
    for (const l of this.loops) l.supervisor.start();
  }

  /** The open fds, for a reload that keeps them across an exec or in systemd's fd store. */
  fds(): DatapathFds {
    return { tunFds: [...this.tunFds], udpFds: [...this.udpFds], sendFds: [...this.sendFds] };
  }

  /** What a handover needs to run the same loops again in the next process. */
  loopConfig(): LoopConfig {
    const o = this.opts;
    return { vni: o.vni, port: o.port, ownMac: o.ownMac, localIP: o.localIP >>> 0,
      network: { ip: o.network.ip >>> 0, prefixLen: o.network.prefixLen }, subnetLen: o.subnetLen,
      innerMtu: o.innerMtu, spinMicros: o.spinMicros ?? null, allowForeignSource: o.allowForeignSource ?? false,
      sendPath: o.sendPath ?? null, fifoPriority: o.scheduling?.fifoPriority || null };
  }

  /**
   * Closes the TAP of paused loops whose fds another datapath takes over (it opens the TAP again); the FORWARD rule
   * stays for that one. The loops of this datapath then run the segment path.
   */
  releaseTap(): void {
    this.tap.release();
  }

  /** Who is told when the TUN is gone (a datapath started before its backend existed gets it later). */
  setOnTunLost(handler: () => void): void {
    this.tunLostHandler = handler;
  }

  /**
   * Stops the loops between two batches (no packet is half-processed) and keeps the fds open: what arrives meanwhile
   * queues in the kernel. Returns the peer table as a replay for whoever continues (this process or the next).
   */
  async pauseLoops(): Promise<PeerTableOp[]> {
    await this.stopLoops();
    return this.peerLog.replay();
  }

  /** The peer table the loops hold, as a replay (our own subnet, then one set per peer). */
  peerReplay(): PeerTableOp[] {
    return this.peerLog.replay();
  }

  /** Restarts the loops paused by pauseLoops() (a reload that failed). */
  resumeLoops(): void {
    if (this.closed) return;
    for (const l of this.loops) l.supervisor.start();
  }

  /** Fills the peer table from a previous process's replay, before start(): the loops forward from their first batch. */
  seedPeers(ops: readonly PeerTableOp[]): void {
    for (const op of ops) this.post(op);
  }

  /**
   * Test hook: kills one loop thread (`queue<N>`, or `tx`/`rx` of the pipeline) as a crash would; the supervisor
   * restarts it.
   */
  async crashLoopForTest(name?: string): Promise<void> {
    const loop = name === undefined ? this.loops[0] : this.loops.find((l) => l.supervisor.role === name);
    if (!loop) throw new Error(`no ${name} loop`);
    await loop.supervisor.terminateForTest();
  }

  setPeer(subnetIP: number, publicIP: number, mac: string): void {
    this.post({ op: 'set', subnetIP: subnetIP >>> 0, publicIP: publicIP >>> 0, mac: [...macBytes(mac)] });
  }

  deletePeer(subnetIP: number): void {
    this.post({ op: 'delete', subnetIP: subnetIP >>> 0 });
  }

  clearPeers(): void {
    this.post({ op: 'clear' });
  }

  /** The loops' counters, with `send_path_tunnel_gso` 1 when the tunnel-GSO send path runs (0: segment). */
  counters(): Record<CounterName | 'loop_restarts' | 'tun_reopened' | 'send_path_tunnel_gso', number> {
    const restarts = this.loops.reduce((n, l) => n + l.supervisor.restarts, 0);
    return { ...readCounters(this.counterBuffer), loop_restarts: restarts, tun_reopened: this.tunReopens,
      send_path_tunnel_gso: this.sendPath === 'tunnel-gso' ? 1 : 0 };
  }

  /** Stops the loops (within one poll interval) and closes the fds; the TUN goes away unless persistent. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopLoops();
    this.closeFds(); // the loops' wake fds too
    this.loops = [];
  }

  /** Sets the stop flag and waits for every loop; the next start() gets a fresh flag. */
  private async stopLoops(): Promise<void> {
    Atomics.store(new Int32Array(this.control), 0, 1);
    this.wakeLoops();
    await haltLoops(this.loops, STOP_GRACE_MS);
    this.control = new SharedArrayBuffer(8);
  }

  /**
   * Sets up the send path once. An explicit --vxlan-send-path=tunnel-gso is decided at construction, so that a host
   * that cannot run it refuses to start; `auto` (which falls back by itself) waits for the first start(): its TAP
   * and the iptables calls of its FORWARD rule (tens of ms, synchronous) stay off the path to subnet.env.
   */
  private chooseSendPath(atConstruction: boolean): void {
    if (this.sendPathChosen || (atConstruction && this.opts.sendPath !== 'tunnel-gso')) return;
    this.sendPathChosen = true;
    this.tap.choose(this.opts, this.queues);
  }

  /** Opens `queues` queues of the TUN with its offloads (tun-queues.ts: an earlier run's queue mode is kept). */
  private openTun(queues: number): number[] {
    const o = this.opts;
    return openTunQueues(this.tun, o.tunName, queues, o.persist ?? false,
      o.offloads ?? true ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN : 0, this.log);
  }

  /** Into the log (for loops started later) and to every running loop. */
  private post(op: PeerTableOp): void {
    this.peerLog.record(op);
    for (const l of this.loops) l.port?.postMessage(op);
    // After the messages are in the ports: a loop that sees the new count finds them there.
    Atomics.add(new Int32Array(this.control), 1, 1);
    this.wakeLoops();
  }

  /** A supervised loop named `name` (in logs) of `role`, on TUN queue / socket `queue`, counting into `block`. */
  private supervise(name: string, role: 'tx' | 'rx' | 'both', block: number, queue: number): Loop {
    const loop: Loop = {
      port: null,
      ...(role === 'both' ? { wakeFd: this.wake.wakeFdOpen() } : {}),
      supervisor: new LoopSupervisor({
        role: name, log: this.log, ...(this.opts.loopBackoff ? { backoff: this.opts.loopBackoff } : {}),
        spawn: () => this.spawn(loop, role, block, queue),
        onFailure: (reason) => this.onLoopFailure(reason),
      }),
    };
    return loop;
  }

  /** A loop that died on a deleted TUN waits for reopenTun(); any other death is restarted by its supervisor. */
  private onLoopFailure(reason: string): 'restart' | 'hold' {
    if (this.closed) return 'hold';
    if (!isTunGoneError(reason)) return 'restart';
    if (!this.tunLost) {
      this.tunLost = true;
      (this.tunLostHandler ?? this.opts.onTunLost)?.();
    }
    return 'hold';
  }

  private spawn(loop: Loop, role: 'tx' | 'rx' | 'both', block: number, queue: number): Worker {
    loop.port?.close();
    this.tap.check();
    const { port1, port2 } = new MessageChannel();
    const o = this.opts;
    const tap = this.tap.tap;
    const data: LoopWorkerData = {
      // A TUN re-made single-queue by someone else while we reopened it has fewer queues: loops then share one.
      role, tunFd: this.tunFds[queue % this.tunFds.length]!, udpFd: this.udpFds[queue]!, sendFds: this.sendFds,
      port: o.port, vni: o.vni, ownMac: [...macBytes(o.ownMac)], network: o.network, subnetLen: o.subnetLen,
      innerMtu: o.innerMtu, coalesce: o.gro ?? true, batch: o.batch ?? 16, scheduling: o.scheduling ?? {},
      spinMicros: o.spinMicros ?? defaultSpinMicros(o.scheduling), counters: this.counterBuffer, counterBlock: block,
      allowForeignSource: o.allowForeignSource ?? false, framing: o.framing ?? 'vxlan',
      control: this.control, updates: port2, initial: this.peerLog.replay(),
      ...(loop.wakeFd !== undefined ? { wakeFd: loop.wakeFd } : {}),
      ...(tap !== null && role !== 'rx'
        ? { tunnel: { tapFd: tap.fds[queue % tap.fds.length]!, tapName: tap.name, tapMac: tap.mac, localIP: o.localIP } }
        : {}),
    };
    const worker = startLoopWorker(path.join(__dirname, 'loop-worker.js'), data, port2);
    loop.port = port1;
    return worker;
  }

  /** Loops asleep in poll look at their control flags and ports now. */
  private wakeLoops(): void {
    for (const l of this.loops) if (l.wakeFd !== undefined) this.wake.wakeFdSignal(l.wakeFd);
  }

  private closeFds(): void {
    for (const fd of [...this.tunFds, ...this.udpFds, ...this.sendFds, ...this.loops.map((l) => l.wakeFd ?? -1)]) {
      if (typeof fd === 'number' && fd >= 0) this.tun.closeFd(fd);
    }
    this.tap.close();
  }
}
