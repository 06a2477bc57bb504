// One direction of the datapath, run in a worker_thread so that etcd and netlink work on the main thread never
// stalls it: `tx` reads the TUN and sends VXLAN datagrams, `rx` receives them and writes the TUN. Blocking calls
// wait at most POLL_MS, after which peer updates are applied and the stop flag is checked.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { counterBlock, COUNTER_INDEX as C } from './counters.js';
import { DecapBatch } from './decap.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM } from './encap.js';
import { datapathAddon } from './native.js';
import { PeerTable, type PeerUpdate } from './peer-table.js';
import type { Ipv4Net } from '../net/ipv4.js';

export type LoopMessage = PeerUpdate;

export interface LoopWorkerData {
  readonly role: 'tx' | 'rx';
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
  readonly counters: SharedArrayBuffer;
  readonly counterBlock: number;
  /** Int32 [0]: set to 1 to stop. */
  readonly control: SharedArrayBuffer;
  readonly updates: MessagePort;
  readonly initial: readonly LoopMessage[];
}

const POLL_MS = 50;
const TX_SLOTS = 16;
const TX_SLOT_SIZE = 65536 + 64;
const RX_SLOTS = 8;
const RX_SLOT_SIZE = 65536 + 64;
const ICMP_SLOTS = 16;

function run(data: LoopWorkerData): void {
  const addon = datapathAddon();
  const peers = new PeerTable(data.network, data.subnetLen);
  const counters = counterBlock(data.counters, data.counterBlock);
  const stop = new Int32Array(data.control);
  const ownMac = Uint8Array.from(data.ownMac);
  const apply = (m: LoopMessage): void => peers.apply(m);
  data.initial.forEach(apply);
  const drain = (): void => {
    for (let m = receiveMessageOnPort(data.updates); m !== undefined; m = receiveMessageOnPort(data.updates)) {
      apply(m.message as LoopMessage);
    }
  };

  if (data.role === 'tx') {
    const layout = encapSlabLayout(TX_SLOTS, TX_SLOT_SIZE, ICMP_SLOTS);
    const slab = new Uint8Array(layout.size);
    const lengths = new Int32Array(TX_SLOTS);
    const batch = new EncapBatch(slab, TX_SLOT_SIZE, layout.outStart, layout.outEnd, layout.icmpStart, ICMP_SLOTS,
      TX_SLOTS * 64);
    const cfg = { vni: data.vni, ownMac, sendFds: Int32Array.from(data.sendFds) };
    while (Atomics.load(stop, 0) === 0) {
      drain();
      const n = addon.readBatch(data.tunFd, slab, TX_SLOT_SIZE, TX_SLOTS, lengths, POLL_MS, TUN_READ_HEADROOM);
      if (n === 0) continue;
      batch.encapsulate(cfg, peers, lengths, n, counters);
      if (batch.sendCount > 0) {
        const sent = addon.sendBatch(batch.sendFds, slab, batch.sendOffsets, batch.sendLengths, batch.sendAddrs,
          data.port, batch.sendGso, batch.sendCount);
        counters[C.tx_datagrams]! += sent;
        counters[C.tx_send_failed]! += batch.sendCount - sent;
      }
      if (batch.tunCount > 0) addon.writeBatch(data.tunFd, slab, batch.tunOffsets, batch.tunLengths, batch.tunCount);
    }
    return;
  }

  const slab = new Uint8Array(RX_SLOTS * RX_SLOT_SIZE);
  const lengths = new Int32Array(RX_SLOTS);
  const sources = new Uint32Array(RX_SLOTS);
  const gsoSizes = new Int32Array(RX_SLOTS);
  const batch = new DecapBatch(RX_SLOTS * 64);
  const cfg = { vni: data.vni, ownMac, innerMtu: data.innerMtu, coalesce: data.coalesce };
  while (Atomics.load(stop, 0) === 0) {
    drain();
    const n = addon.recvBatch(data.udpFd, slab, RX_SLOT_SIZE, RX_SLOTS, lengths, sources, gsoSizes, POLL_MS);
    if (n === 0) continue;
    batch.reset();
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      if (len < 0) {
        counters[C.drop_truncated]!++;
        continue;
      }
      batch.datagram(cfg, peers, slab, i * RX_SLOT_SIZE, len, sources[i]!, gsoSizes[i]!, counters);
    }
    batch.flush(counters);
    if (batch.writeCount > 0) {
      const written = addon.writeBatch(data.tunFd, slab, batch.writeOffsets, batch.writeLengths, batch.writeCount);
      counters[C.rx_tun_write_failed]! += batch.writeCount - written;
    }
  }
}

run(workerData as LoopWorkerData);
