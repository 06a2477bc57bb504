// The main thread's handle on the userspace VXLAN datapath: opens the TUN device and the UDP sockets, runs the two
// loop threads (tx: TUN → UDP, rx: UDP → TUN), forwards peer changes to them without stopping them, and reads their
// counters. Policy (which device, which peers) belongs to the backend (src/backend/vxlan/userspace.ts).
import path from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Ipv4Net } from '../net/ipv4.js';
import { newCounterBuffer, readCounters, type CounterName } from './counters.js';
import type { LoopMessage, LoopWorkerData } from './loop-worker.js';
import { datapathAddon } from './native.js';
import { PeerTable } from './peer-table.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN } from './virtio-hdr.js';
import { macBytes } from './wire.js';

export interface DatapathOptions {
  readonly tunName: string;
  readonly vni: number;
  /** Outer UDP port: we listen on it and send to it. */
  readonly port: number;
  /** Own VtepMAC, `aa:bb:cc:dd:ee:ff`. */
  readonly ownMac: string;
  /** Address the send sockets bind to (host-order uint32; 0 = chosen by routing). */
  readonly localIP: number;
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  /** The TUN's MTU (external MTU − 50). */
  readonly innerMtu: number;
  /** TSO reads from the TUN + UDP GSO sends (default true). */
  readonly offloads?: boolean;
  /** UDP GRO receive + coalescing into TSO writes (default true). */
  readonly gro?: boolean;
  /** Packets per TUN read batch and datagrams per recvmmsg, 1..16 (default 16; 1 = one packet per crossing). */
  readonly batch?: number;
  /**
   * Scheduling of the loop threads: a nice value (e.g. -10) and/or a SCHED_FIFO priority (1..99). On a busy host
   * a loop thread that waits for a CPU adds that wait to every packet; the kernel datapath never waits. Default none.
   */
  readonly scheduling?: { readonly nice?: number; readonly fifoPriority?: number };
  /** After traffic, loop threads poll without sleeping for this long (µs) before blocking (default 0). */
  readonly spinMicros?: number;
  /** 2: one thread per direction (default); 1: one thread for both directions. */
  readonly threads?: 1 | 2;
  /** Sockets (outer source ports) the inner flow hash spreads over (default 8). */
  readonly sourcePorts?: number;
  /** Keep the TUN device when the process exits, so a restart keeps its address and route (default false). */
  readonly persist?: boolean;
}

const SOCKET_BUFFER = 4 * 1024 * 1024;
const STOP_GRACE_MS = 2000;

interface Loop {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly exited: Promise<void>;
}

export class UserspaceDatapath {
  private readonly addon = datapathAddon();
  private readonly counterBuffer = newCounterBuffer(2);
  private readonly control = new SharedArrayBuffer(4);
  private readonly peers: PeerTable;
  private readonly peerMessages = new Map<number, LoopMessage>();
  private loops: Loop[] = [];
  private closed = false;
  readonly tunFd: number;
  readonly udpFd: number;
  readonly sendFds: number[] = [];

  constructor(private readonly opts: DatapathOptions) {
    this.peers = new PeerTable(opts.network, opts.subnetLen);
    macBytes(opts.ownMac);
    const tun = this.addon.tunOpen(opts.tunName, { vnetHdr: true, persist: opts.persist ?? false });
    this.tunFd = tun.fd;
    try {
      if (opts.offloads ?? true) this.addon.tunSetOffload(this.tunFd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN);
      this.udpFd = this.addon.udpOpen(0, opts.port, { rcvbuf: SOCKET_BUFFER, gro: opts.gro ?? true });
      for (let i = 0; i < (opts.sourcePorts ?? 8); i++) {
        this.sendFds.push(this.addon.udpOpen(opts.localIP, 0, { sndbuf: SOCKET_BUFFER }));
      }
    } catch (err) {
      this.closeFds();
      throw err;
    }
  }

  /** Starts both loops (again: no-op). */
  start(): void {
    if (this.closed) throw new Error('datapath already stopped');
    if (this.loops.length > 0) return;
    this.loops = this.opts.threads === 1 ? [this.spawn('both', 0)] : [this.spawn('tx', 0), this.spawn('rx', 1)];
  }

  setPeer(subnetIP: number, publicIP: number, mac: string): void {
    const msg: LoopMessage = { op: 'set', subnetIP: subnetIP >>> 0, publicIP: publicIP >>> 0, mac: [...macBytes(mac)] };
    this.peers.apply(msg);
    this.peerMessages.set(subnetIP >>> 0, msg);
    this.post(msg);
  }

  deletePeer(subnetIP: number): void {
    this.peers.delete(subnetIP);
    this.peerMessages.delete(subnetIP >>> 0);
    this.post({ op: 'delete', subnetIP: subnetIP >>> 0 });
  }

  clearPeers(): void {
    this.peers.clear();
    this.peerMessages.clear();
    this.post({ op: 'clear' });
  }

  get peerCount(): number {
    return this.peers.size;
  }

  counters(): Record<CounterName, number> {
    return readCounters(this.counterBuffer);
  }

  /** Stops the loops (within one poll interval) and closes the fds; the TUN goes away unless persistent. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(new Int32Array(this.control), 0, 1);
    // A loop sees the flag within one poll interval; one that does not (a bug) is terminated rather than waited for.
    await Promise.all(this.loops.map(async (l) => {
      const timer = setTimeout(() => void l.worker.terminate(), STOP_GRACE_MS);
      await l.exited;
      clearTimeout(timer);
    }));
    for (const l of this.loops) l.port.close();
    this.loops = [];
    this.closeFds();
  }

  private post(msg: LoopMessage): void {
    for (const l of this.loops) l.port.postMessage(msg);
  }

  private spawn(role: 'tx' | 'rx' | 'both', block: number): Loop {
    const { port1, port2 } = new MessageChannel();
    const o = this.opts;
    const data: LoopWorkerData = {
      role, tunFd: this.tunFd, udpFd: this.udpFd, sendFds: this.sendFds, port: o.port, vni: o.vni,
      ownMac: [...macBytes(o.ownMac)], network: o.network, subnetLen: o.subnetLen,
      innerMtu: o.innerMtu, coalesce: o.gro ?? true, batch: o.batch ?? 16, scheduling: o.scheduling ?? {}, spinMicros: o.spinMicros ?? 0, counters: this.counterBuffer, counterBlock: block,
      control: this.control, updates: port2, initial: [...this.peerMessages.values()],
    };
    const worker = new Worker(path.join(__dirname, 'loop-worker.js'), { workerData: data, transferList: [port2] });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', (err) => {
      // A loop that dies is a bug; make it loud rather than silently dropping all traffic.
      process.emitWarning(`datapath ${role} loop failed: ${err.message}`);
    });
    return { worker, port: port1, exited };
  }

  private closeFds(): void {
    for (const fd of [this.tunFd, this.udpFd, ...this.sendFds]) {
      if (typeof fd === 'number' && fd >= 0) this.addon.closeFd(fd);
    }
  }
}
