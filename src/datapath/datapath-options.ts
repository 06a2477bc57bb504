// What the userspace datapath is configured with, and the defaults of the settings that depend on the host (CPUs,
// scheduling policy).
import os from 'node:os';
import type { Logger } from '../log.js';
import type { Ipv4Net } from '../net/ipv4.js';
import type { BackoffPolicy } from './loop-supervisor.js';
import type { DatapathFds } from '../reload/handover.js';
import type { SendPathChoice } from './send-path.js';

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
  /**
   * After traffic, loop threads poll (yielding the CPU) for this long (µs) before they sleep (default
   * DEFAULT_SPIN_MICROS; 0 = never). The answer to a datagram just sent then finds its loop awake: waking a thread
   * whose vCPU has halted costs tens of µs on a VM, often more than the answer takes to arrive.
   */
  readonly spinMicros?: number;
  /**
   * The loop threads. A number N (default: defaultLoopCount()): N loops, each doing both directions over its own
   * queue of a multi-queue TUN and its own UDP socket on the port (SO_REUSEPORT). The kernel keeps a flow on one TUN
   * queue (a reply leaves through the queue its request was written to) and on one socket (by the outer addresses
   * and ports), so the thread that writes a ping or a TCP segment into the TUN reads the answer itself, without a
   * wake-up of another thread. 'pipeline': one thread TUN → UDP and one UDP → TUN over a single queue.
   */
  readonly loops?: number | 'pipeline';
  /** Sockets (outer source ports) the inner flow hash spreads over (default 8). */
  readonly sourcePorts?: number;
  /** Keep the TUN device when the process exits, so a restart keeps its address and route (default false). */
  readonly persist?: boolean;
  /**
   * Open fds to use instead of opening the TUN and the sockets (a reload: the previous process kept them open, with
   * the TUN's offloads already set). One receiving socket per TUN queue; the queues decide the loops.
   */
  readonly adopt?: DatapathFds;
  readonly log?: Logger;
  /** Restart backoff of dead loop threads (tests shorten it). */
  readonly loopBackoff?: BackoffPolicy;
  /**
   * Called (once per loss) when a loop finds the TUN gone (EBADFD): the owner should re-create the device with
   * reopenTun() and re-address it. The loops wait for that instead of dying over and over.
   */
  readonly onTunLost?: () => void;
  /**
   * Deliver received inner packets whatever their source, as long as they are addressed into our subnet (default
   * false: the source must lie in the subnet of the peer that sent the frame). See DecapConfig.allowForeignSource.
   */
  readonly allowForeignSource?: boolean;
  /** What a datagram carries: a VXLAN frame (default), or one bare IPv4 packet (flannel's udp backend). */
  readonly framing?: 'vxlan' | 'udp';
  /**
   * How TSO frames leave (send-path.ts): 'tunnel-gso' (a TAP with UDP-tunnel GSO; the kernel segments), 'segment'
   * (segmented in the addon, sent with UDP GSO), 'auto' (default: tunnel-gso where the kernel has it). Needs
   * offloads and a localIP.
   */
  readonly sendPath?: SendPathChoice;
}

/** As long as Linux's guest halt-polling default (cpuidle-haltpoll's guest_halt_poll_ns, 200 µs). */
export const DEFAULT_SPIN_MICROS = 200;
/** More loops than this buy little: the TUN and the sockets, not the cores, are then the limit. */
const MAX_DEFAULT_LOOPS = 4;

/**
 * The spin unless set: none for SCHED_FIFO loops. Their sched_yield between polls yields only to other real-time
 * threads, so a spinning FIFO loop would hold its CPU from every normal thread (the daemon's own main thread
 * included); and a FIFO thread woken from poll runs at once, which is what the spin buys a normal one.
 */
export function defaultSpinMicros(scheduling: DatapathOptions['scheduling']): number {
  return (scheduling?.fifoPriority ?? 0) > 0 ? 0 : DEFAULT_SPIN_MICROS;
}

/**
 * The spin after one wake-up of a both-direction loop; `got` is loopWait's result (TUN packets | datagrams << 8).
 * The spin waits for the peer's answer to what the loop just sent. After a wake-up that took datagrams, the answer
 * (the pod's ACK or echo reply) comes out of the loop's own TUN write and the next wait finds it at once; spinning
 * then only takes the CPU from the pod that has to read what was written (bench/notes/datapath-steps.md, seventh
 * pass: it cost the receive side a third of its throughput against a kernel sender).
 */
export function spinAfterWake(got: number, spinMicros: number): number {
  return (got & 0xff) > 0 && got >>> 8 === 0 ? spinMicros : 0;
}

/** One loop per CPU, up to MAX_DEFAULT_LOOPS. */
export function defaultLoopCount(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_LOOPS, os.availableParallelism()));
}
