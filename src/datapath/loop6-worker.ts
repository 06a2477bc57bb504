// The loop thread of the IPv6 half (flannel-v6.<VNI>), in a worker_thread like loop-worker.ts, doing both
// directions: send reads the TUN, encapsulates (encap6.ts) and sends to peers' PublicIPv6 with sendmmsg and
// UDP_SEGMENT; receive takes recvmmsg batches (UDP_GRO trains), decapsulates and coalesces them (decap6.ts) and
// writes the TUN. One native call per wake-up polls both (loop_io.cc, spinning first for spinMicros after traffic),
// as the IPv4 loops do. Every buffer is allocated here, once. A wait ends on traffic or on the wake fd, which the
// main thread signals after peer updates and at stop. With the tunnel-GSO send path (send-path.ts), send writes
// whole VXLAN frames (tunnel-frame6.ts), TSO6 frames included, to this loop's queue of the TAP instead. The
// per-packet code is JIT-warmed before the loop starts (warm-up6.ts).
import * as fs from 'node:fs';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { useRangeSum } from './checksum.js';
import { counterBlock, COUNTER_INDEX as C } from './counters.js';
import { spinAfterWake } from './datapath-options.js';
import type { DecapConfig } from './decap.js';
import { Decap6Batch } from './decap6.js';
import { Encap6Batch, type Encap6Config } from './encap6.js';
import { checksumNative, loopWaitIo, threadControl, tunIo } from './native.js';
import { udp6Io } from './native6.js';
import { PeerTable6, type PeerTable6Op } from './peer-table6.js';
import { TUNNEL6_ROOM, type Tunnel6Config } from './tunnel-frame6.js';
import { warmUpDatapath6 } from './warm-up6.js';
import type { Ipv6Net } from '../net/ipv6.js';

export interface Loop6WorkerData {
  readonly tunFd: number;
  readonly udpFd: number;
  readonly sendFds: readonly number[];
  readonly port: number;
  readonly vni: number;
  readonly ownMac: readonly number[];
  readonly network: Ipv6Net;
  readonly subnetLen: number;
  readonly innerMtu: number;
  readonly outerMtu: number;
  readonly allowForeignSource: boolean;
  /** After traffic, poll (yielding) this long in µs before sleeping (0: never). */
  readonly spinMicros: number;
  /** SCHED_FIFO priority for this thread (0: none). */
  readonly fifoPriority: number;
  readonly counters: SharedArrayBuffer;
  readonly counterBlock: number;
  /** Int32 [0]: 1 = stop; [1]: bumped after peer updates are posted. */
  readonly control: SharedArrayBuffer;
  readonly updates: MessagePort;
  /** Signalled (wake.cc) after peer updates and at stop: the wait needs no short timeout. */
  readonly wakeFd: number;
  readonly initial: readonly PeerTable6Op[];
  /** The tunnel-GSO send path: this loop's TAP queue and what the outer headers need; absent: segment and send. */
  readonly tunnel?: {
    readonly tapFd: number; readonly tapName: string; readonly tapMac: readonly number[];
    /** Our IPv6 underlay address, 16 bytes. */
    readonly localIP6: readonly number[];
  };
}

/** Only bounds the harm of a missed wake-up signal: an idle loop wakes once per this period. */
const POLL_MS = 30_000;
const TX_SLOTS = 16;
/** A 64 KiB TSO6 read behind the largest headroom (the tunnel frame's headers), with a margin. */
const TX_SLOT_SIZE = 65536 + 64 + TUNNEL6_ROOM;
const RX_SLOTS = 8;
const RX_SLOT_SIZE = 65536 + 64;

interface Side {
  readonly slab: Uint8Array;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  /** Where each read goes in its slot. */
  readonly headroom: number;
  handle(n: number): void;
}

function sendSide(data: Loop6WorkerData, peers: PeerTable6, counters: Float64Array): Side & {
  readonly cfg: Encap6Config; readonly tunnel: Tunnel6Config | null;
} {
  const udp = udp6Io();
  const outStart = TX_SLOTS * TX_SLOT_SIZE;
  // Segments of 64 KiB reads of MSS ≥ ~500 add at most 128 × (22 + 100) bytes of headers per slot.
  const outEnd = outStart + TX_SLOTS * (TX_SLOT_SIZE + 128 * 128);
  const slab = new Uint8Array(outEnd);
  const lengths = new Int32Array(TX_SLOTS);
  const t = data.tunnel;
  const tunnel: Tunnel6Config | null = t === undefined ? null : { tapMac: Uint8Array.from(t.tapMac),
    srcMac: Uint8Array.from(data.ownMac), localIP6: Uint8Array.from(t.localIP6), port: data.port };
  const batch = new Encap6Batch(slab, TX_SLOT_SIZE, outStart, outEnd, TX_SLOTS * 64, tunnel);
  const cfg: Encap6Config = { vni: data.vni, ownMac: Uint8Array.from(data.ownMac), sendFds: Int32Array.from(data.sendFds),
    outerMtu: data.outerMtu };
  const tun = tunIo();
  const handle = (n: number): void => {
    batch.encapsulate(cfg, peers, lengths, n, counters);
    if (batch.tunCount > 0) tun.writeBatch(data.tunFd, batch.icmpSlab, batch.tunOffsets, batch.tunLengths, batch.tunCount);
    if (batch.tapCount > 0 && t !== undefined) {
      const written = tun.writeBatch(t.tapFd, slab, batch.tapOffsets, batch.tapLengths, batch.tapCount);
      counters[C.tx_tap_write_failed]! += batch.tapCount - written;
      // A TAP deleted under the loop refuses every write: die, so that the restart (send-path-tap.ts check) sends
      // the segmenting way instead of dropping everything. The check runs only after a failure.
      if (written === 0 && !fs.existsSync(`/proc/sys/net/ipv6/conf/${t.tapName}`)) {
        throw new Error(`the tunnel-GSO TAP ${t.tapName} is gone`);
      }
    }
    if (batch.sendCount === 0) return;
    const sent = udp.sendBatch6(batch.sendFds, slab, batch.sendOffsets, batch.sendLengths, batch.sendAddrs, data.port,
      batch.sendGso, batch.sendCount);
    counters[C.tx_datagrams]! += sent;
    counters[C.tx_send_failed]! += batch.sendCount - sent;
  };
  return { slab, slotSize: TX_SLOT_SIZE, lengths, headroom: batch.readHeadroom, handle, cfg, tunnel };
}

function receiveSide(data: Loop6WorkerData, peers: PeerTable6, counters: Float64Array): Side & {
  readonly sources: Uint32Array; readonly gsoSizes: Int32Array; readonly cfg: DecapConfig;
} {
  const tun = tunIo();
  const slab = new Uint8Array(RX_SLOTS * RX_SLOT_SIZE);
  const lengths = new Int32Array(RX_SLOTS);
  const sources = new Uint32Array(4 * RX_SLOTS);
  const gsoSizes = new Int32Array(RX_SLOTS);
  const batch = new Decap6Batch(slab, RX_SLOTS * 64);
  const cfg: DecapConfig = { vni: data.vni, ownMac: Uint8Array.from(data.ownMac), innerMtu: data.innerMtu,
    coalesce: true, allowForeignSource: data.allowForeignSource };
  const handle = (n: number): void => {
    batch.receive(cfg, peers, n, lengths, sources, gsoSizes, RX_SLOT_SIZE, counters);
    if (batch.writeCount === 0) return;
    const written = tun.writeBatch(data.tunFd, slab, batch.writeOffsets, batch.writeLengths, batch.writeCount);
    counters[C.rx_tun_write_failed]! += batch.writeCount - written;
  };
  return { slab, slotSize: RX_SLOT_SIZE, lengths, headroom: 0, sources, gsoSizes, handle, cfg };
}

function run(data: Loop6WorkerData): void {
  if (data.fifoPriority > 0 && !threadControl().setThreadScheduling({ fifoPriority: data.fifoPriority })) {
    process.emitWarning(`datapath IPv6 loop: could not apply SCHED_FIFO priority ${data.fifoPriority}`);
  }
  useRangeSum(checksumNative().checksumSum);
  const peers = new PeerTable6(data.network, data.subnetLen);
  data.initial.forEach((op) => peers.apply(op));
  const counters = counterBlock(data.counters, data.counterBlock);
  const control = new Int32Array(data.control);
  const tx = sendSide(data, peers, counters);
  const rx = receiveSide(data, peers, counters);
  // After every object the loop uses exists, as the IPv4 loops (warm-up6.ts); TSFLANNELD_DATAPATH_WARMUP=0 skips it.
  if (process.env['TSFLANNELD_DATAPATH_WARMUP'] !== '0') {
    warmUpDatapath6({ network: data.network, subnetLen: data.subnetLen, encap: tx.cfg, decap: rx.cfg,
      ...(tx.tunnel !== null ? { tunnel: tx.tunnel } : {}) });
  }
  const wait = loopWaitIo();
  const io = wait.loopIoOpen({
    tunFd: data.tunFd, udpFd: data.udpFd, wakeFd: data.wakeFd, headroom: tx.headroom, family: 6,
    txSlab: tx.slab, txSlotSize: tx.slotSize, txLengths: tx.lengths,
    rxSlab: rx.slab, rxSlotSize: rx.slotSize, rxLengths: rx.lengths, rxSources: rx.sources, rxGsoSizes: rx.gsoSizes,
  });
  let seen = -1;
  let spinMicros = 0;
  while (Atomics.load(control, 0) === 0) {
    const posted = Atomics.load(control, 1);
    if (posted !== seen) {
      seen = posted;
      for (let m = receiveMessageOnPort(data.updates); m !== undefined; m = receiveMessageOnPort(data.updates)) {
        peers.apply(m.message as PeerTable6Op);
      }
    }
    const got = wait.loopWait(io, POLL_MS, spinMicros);
    spinMicros = spinAfterWake(got, data.spinMicros);
    if ((got & 0xff) > 0) tx.handle(got & 0xff);
    if (got >>> 8 > 0) rx.handle(got >>> 8);
  }
}

run(workerData as Loop6WorkerData);
