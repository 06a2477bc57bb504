// One loop of the datapath, run in a worker_thread so that etcd and netlink work on the main thread never stalls
// it: `both` serves one TUN queue and its UDP socket in both directions (the default layout, one loop per queue);
// in the pipeline layout `tx` reads the TUN and sends VXLAN datagrams and `rx` receives them and writes the TUN.
// Blocking calls wait at most POLL_MS, after which peer updates are applied and the stop flag is checked. Latency:
// each hop is a thread wake-up (~40–60 µs on a 2-vCPU VM) plus this code, so a one-direction wake-up costs one
// native call and the per-packet code is JIT-warmed before the loop starts (warm-up.ts).
//
// The flow of a packet, stage by stage (file: what happens). Every buffer is allocated once, below.
//
// Send, pod → peer (TUN → UDP):
//   1. loop_io.cc / tun.cc   wait for the TUN queue; read up to MAX_TX_SLOTS packets, each behind a virtio_net_hdr,
//                            into its slot at the batch's readHeadroom (room to prepend headers without a copy)
//   2. encap.ts              IPv4 only; the destination's subnet → peer slot (peer-table.ts); none: ICMP net
//                            unreachable back into the TUN (rate-limited), counted drop_no_route
//   3. wire.ts               the 22-byte VXLAN + inner Ethernet prefix in front of the packet (peer's VtepMAC)
//   4. segment.cc            a TSO super-packet is cut into MSS segments, each with its own prefix, back to back;
//                            a CHECKSUM_PARTIAL packet gets its checksum completed (checksum.ts)
//   5. flow-hash.ts          the inner flow picks the sending socket (outer source port), keeping flows in order
//   6. udp.cc                one sendmmsg of the batch; segments go as UDP_SEGMENT (GSO) sends of up to 64 KiB
//   With the tunnel-GSO send path (send-path.ts) steps 4–6 are instead: tunnel-frame.ts puts the virtio tunnel
//   header and outer Ethernet/IPv4/UDP in front of the prefix, and tun.cc writes the whole frame, a 64 KiB TSO frame
//   included, to the TAP; the kernel segments it (or passes it whole to an underlay that takes tunnel GSO).
//
// Receive, peer → pod (UDP → TUN):
//   1. loop_io.cc / udp.cc   wait for the socket; recvmmsg up to MAX_RX_SLOTS datagrams (UDP_GRO trains) with their
//                            outer source address and GRO segment size
//   2. decap.ts              the outer source must be a peer's PublicIP (drop_unknown_source); per frame: VXLAN
//                            flags and VNI, inner Ethernet to our VtepMAC, IPv4 (wire.ts checkVxlanFrame)
//   3. peer-table.ts         anti-injection: the inner source in a subnet that outer source leases, the inner
//                            destination in ours (drop_foreign_source / drop_foreign_destination)
//   4. decap.ts              in-order segments of one TCP flow are coalesced in place into one TSO frame; others
//                            go alone, a CHECKSUM_PARTIAL or super-packet marked for the kernel to finish
//   5. virtio-hdr.ts         a virtio_net_hdr in front of each write (GSO_TCPV4 for coalesced frames)
//   6. tun.cc                the writes, one per frame; a refused one counted rx_tun_write_failed
//
// Control, between batches: peer-table ops from the main thread (its replay log seeds a new loop), the stop flag.
import * as fs from 'node:fs';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { useRangeSum } from './checksum.js';
import { counterBlock, COUNTER_INDEX as C } from './counters.js';
import { spinAfterWake } from './datapath-options.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import { flushTxQueues, rxDirectionAround } from './direction-io.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM, type EncapConfig } from './encap.js';
import { checksumNative, loopWaitIo, threadControl, tunIo } from './native.js';
import { PeerTable, type PeerTableOp } from './peer-table.js';
import { udpRxDirection, udpTxDirection } from './udp-directions.js';
import { warmUpUdpDatapath } from './udp-warm-up.js';
import type { TunnelConfig } from './tunnel-frame.js';
import { warmUpDatapath } from './warm-up.js';
import type { Ipv4Net } from '../net/ipv4.js';

export interface LoopWorkerData {
  readonly role: 'tx' | 'rx' | 'both';
  readonly tunFd: number;
  readonly udpFd: number;
  readonly sendFds: readonly number[];
  readonly port: number;
  readonly vni: number;
  readonly ownMac: readonly number[];
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  readonly innerMtu: number;
  readonly coalesce: boolean;
  /** See DecapConfig.allowForeignSource. */
  readonly allowForeignSource: boolean;
  /** Packets per TUN read batch / datagrams per recvmmsg (1 = the per-packet baseline). */
  readonly batch: number;
  /** Both-direction loops: after traffic, poll (yielding) for this many µs before sleeping (0 = never). */
  readonly spinMicros: number;
  /** Scheduling for this loop thread (see DatapathOptions.scheduling). */
  readonly scheduling: { readonly nice?: number; readonly fifoPriority?: number };
  readonly counters: SharedArrayBuffer;
  readonly counterBlock: number;
  /** Int32 [0]: set to 1 to stop; [1]: bumped after peer updates are posted, so the loop reads its port only then. */
  readonly control: SharedArrayBuffer;
  /** Both-direction loops: signalled (wake.cc) after [0] or [1] of control changes, so the loop sleeps until then. */
  readonly wakeFd?: number;
  readonly updates: MessagePort;
  /** The main thread's replay log (peer-log.ts): the table this loop starts from. */
  readonly initial: readonly PeerTableOp[];
  /** What a datagram carries: a VXLAN frame (default), or one bare IPv4 packet (flannel's udp backend). */
  readonly framing?: 'vxlan' | 'udp';
  /** The tunnel-GSO send path: this loop's TAP queue and what the outer headers need; absent: segment and send. */
  readonly tunnel?: {
    readonly tapFd: number; readonly tapName: string; readonly tapMac: readonly number[]; readonly localIP: number;
  };
}

const POLL_MS = 50;
/**
 * A loop with a wake fd learns of peer updates and the stop flag from it, so its poll needs no short timeout; this
 * one only bounds the harm of a missed signal. An idle daemon's loops wake once per this period, not 20 times a second.
 */
const WAKEABLE_POLL_MS = 30_000;
const MAX_TX_SLOTS = 16;
/** A 64 KiB TSO read behind the largest headroom (the tunnel frame's headers), with a margin. */
const TX_SLOT_SIZE = 65536 + 128;
const MAX_RX_SLOTS = 8;
const RX_SLOT_SIZE = 65536 + 64;
const ICMP_SLOTS = 16;

/**
 * One direction of a loop: its receive buffers, and what it does with n packets read into them. `step` is the
 * one-direction loop's wait-and-read-and-handle; the both-direction loop reads through loopWait instead.
 */
export interface Direction {
  handle(n: number): void;
  /** One batch; false when nothing arrived within timeoutMs. */
  step(timeoutMs: number): boolean;
}

export interface TxDirection extends Direction {
  readonly slab: Uint8Array;
  readonly slotSize: number;
  /** Where a TUN read lands in its slot: room in front for the headers the send writes in place. */
  readonly readHeadroom: number;
  readonly tunnel: TunnelConfig | null;
  readonly lengths: Int32Array;
}

export interface RxDirection extends Direction {
  /** Where receive writes datagram i: at i*slotSize. */
  readonly slab: Uint8Array;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  readonly sources: Uint32Array;
  readonly gsoSizes: Int32Array;
}

/** The buffer sizes every framing's directions use (the udp framing's receive slots are its own). */
export interface LoopDirectionSizes {
  readonly tx: { readonly slots: number; readonly slotSize: number; readonly icmpSlots: number; readonly headroom: number };
  readonly rx: { readonly slots: number };
}

function directionSizes(data: LoopWorkerData): LoopDirectionSizes {
  return {
    tx: { slots: Math.max(1, Math.min(MAX_TX_SLOTS, data.batch)), slotSize: TX_SLOT_SIZE, icmpSlots: ICMP_SLOTS,
      headroom: TUN_READ_HEADROOM },
    rx: { slots: Math.max(1, Math.min(MAX_RX_SLOTS, data.batch)) },
  };
}

/** TUN → UDP: a batch of reads, encapsulated and sent. */
function txDirection(data: LoopWorkerData, cfg: EncapConfig, peers: PeerTable, counters: Float64Array): TxDirection {
  const tun = tunIo();
  const slots = Math.max(1, Math.min(MAX_TX_SLOTS, data.batch));
  const layout = encapSlabLayout(slots, TX_SLOT_SIZE, ICMP_SLOTS);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(slots);
  const t = data.tunnel;
  const tunnel = t === undefined ? null
    : { tapMac: Uint8Array.from(t.tapMac), srcMac: Uint8Array.from(data.ownMac), localIP: t.localIP, port: data.port };
  const batch = new EncapBatch(slab, TX_SLOT_SIZE, layout.outStart, layout.outEnd, layout.icmpStart, ICMP_SLOTS,
    slots * 64, tunnel);
  const tapFd = t?.tapFd ?? -1;
  const handle = (n: number): void => {
    batch.encapsulate(cfg, peers, lengths, n, counters);
    flushTxQueues(batch, data.tunFd, data.port, counters);
    if (batch.tapCount > 0) {
      const written = tun.writeBatch(tapFd, slab, batch.tapOffsets, batch.tapLengths, batch.tapCount);
      counters[C.tx_tap_write_failed]! += batch.tapCount - written;
      // A TAP deleted under the loop refuses every write: die, so that the restart (userspace-datapath.ts
      // checkTap) sends the segmenting way instead of dropping everything. The check runs only after a failure.
      if (written === 0 && t !== undefined && !fs.existsSync(`/proc/sys/net/ipv4/conf/${t.tapName}`)) {
        throw new Error(`the tunnel-GSO TAP ${t.tapName} is gone`);
      }
    }
  };
  const step = (timeoutMs: number): boolean => {
    const n = tun.readBatch(data.tunFd, slab, TX_SLOT_SIZE, slots, lengths, timeoutMs, batch.readHeadroom);
    if (n > 0) handle(n);
    return n > 0;
  };
  return { slab, slotSize: TX_SLOT_SIZE, lengths, handle, step, readHeadroom: batch.readHeadroom, tunnel };
}

/** UDP → TUN: a batch of datagrams, decapsulated (and coalesced) and written. */
function rxDirection(data: LoopWorkerData, cfg: DecapConfig, peers: PeerTable, counters: Float64Array): RxDirection {
  const slots = Math.max(1, Math.min(MAX_RX_SLOTS, data.batch));
  const slab = new Uint8Array(slots * RX_SLOT_SIZE);
  const batch = new DecapBatch(slab, slots * 64);
  const setup = { tunFd: data.tunFd, udpFd: data.udpFd, slab, slotSize: RX_SLOT_SIZE, slots, writeSlab: slab };
  return rxDirectionAround(setup, counters, (n, rx) => {
    batch.receive(cfg, peers, n, rx.lengths, rx.sources, rx.gsoSizes, RX_SLOT_SIZE, counters);
    return batch;
  });
}

/**
 * The both-direction loop: one native call per wake-up polls the TUN queue and the socket and reads both. A packet
 * written to the TUN is often answered at once (ACKs, echo replies) on this loop's own queue, and this thread finds
 * the answer without a wake-up of another one. After sending (and receiving nothing) the wait spins first
 * (spinMicros), so that the answer to a datagram just sent finds this thread still awake (spinAfterWake).
 */
function runBoth(data: LoopWorkerData, tx: TxDirection, rx: RxDirection, control: Int32Array, drain: () => void): void {
  const wait = loopWaitIo();
  const io = wait.loopIoOpen({
    tunFd: data.tunFd, udpFd: data.udpFd, headroom: tx.readHeadroom,
    ...(data.wakeFd !== undefined ? { wakeFd: data.wakeFd } : {}),
    txSlab: tx.slab, txSlotSize: tx.slotSize, txLengths: tx.lengths,
    rxSlab: rx.slab, rxSlotSize: rx.slotSize, rxLengths: rx.lengths, rxSources: rx.sources, rxGsoSizes: rx.gsoSizes,
  });
  let spinMicros = 0;
  const pollMs = data.wakeFd !== undefined ? WAKEABLE_POLL_MS : POLL_MS;
  while (Atomics.load(control, 0) === 0) {
    drain();
    const got = wait.loopWait(io, pollMs, spinMicros);
    spinMicros = spinAfterWake(got, data.spinMicros);
    // An answer the pod's stack queued inside this loop's TUN write (an echo reply, an ACK) is found by the next
    // wait, which returns at once. Reading the TUN right after the write would save that wait, but it makes the
    // sender encapsulate smaller batches; measured, the difference was within this host's noise
    // (bench/notes/datapath-steps.md).
    if ((got & 0xff) > 0) tx.handle(got & 0xff);
    if (got >>> 8 > 0) rx.handle(got >>> 8);
  }
}

function run(data: LoopWorkerData): void {
  if (Object.keys(data.scheduling).length > 0 && !threadControl().setThreadScheduling(data.scheduling)) {
    process.emitWarning(`datapath ${data.role} loop: could not apply scheduling ${JSON.stringify(data.scheduling)}`);
  }
  useRangeSum(checksumNative().checksumSum);
  const peers = new PeerTable(data.network, data.subnetLen);
  const counters = counterBlock(data.counters, data.counterBlock);
  const control = new Int32Array(data.control);
  const ownMac = Uint8Array.from(data.ownMac);
  const encapCfg: EncapConfig = { vni: data.vni, ownMac, sendFds: Int32Array.from(data.sendFds) };
  const decapCfg: DecapConfig = { vni: data.vni, ownMac, innerMtu: data.innerMtu, coalesce: data.coalesce,
    allowForeignSource: data.allowForeignSource };
  data.initial.forEach((m) => peers.apply(m));
  let updatesSeen = -1;
  const drain = (): void => {
    const posted = Atomics.load(control, 1);
    if (posted === updatesSeen) return;
    updatesSeen = posted;
    for (let m = receiveMessageOnPort(data.updates); m !== undefined; m = receiveMessageOnPort(data.updates)) {
      peers.apply(m.message as PeerTableOp);
    }
  };
  const udpSetup = { tunFd: data.tunFd, udpFd: data.udpFd, sendFds: encapCfg.sendFds, port: data.port,
    sizes: directionSizes(data) };
  const udpFraming = data.framing === 'udp';
  const tx = data.role === 'rx' ? null
    : udpFraming ? udpTxDirection(udpSetup, peers, counters) : txDirection(data, encapCfg, peers, counters);
  const rx = data.role === 'tx' ? null
    : udpFraming ? udpRxDirection(udpSetup, decapCfg, peers, counters) : rxDirection(data, decapCfg, peers, counters);
  // After every object the loop uses exists (see warm-up.ts). TSFLANNELD_DATAPATH_WARMUP=0 skips it, for
  // side-by-side measurements only.
  if (process.env['TSFLANNELD_DATAPATH_WARMUP'] !== '0') {
    if (udpFraming) warmUpUdpDatapath({ network: data.network, subnetLen: data.subnetLen, sendFds: encapCfg.sendFds, decap: decapCfg });
    else {
      warmUpDatapath({ network: data.network, subnetLen: data.subnetLen, encap: encapCfg, decap: decapCfg,
        ...(tx?.tunnel ? { tunnel: tx.tunnel } : {}) });
    }
  }
  if (tx && rx) {
    runBoth(data, tx, rx, control, drain);
    return;
  }
  // One direction: the read call itself sleeps until traffic, so a wake-up costs one crossing.
  const direction = (tx ?? rx)!;
  while (Atomics.load(control, 0) === 0) {
    drain();
    direction.step(POLL_MS);
  }
}

run(workerData as LoopWorkerData);
