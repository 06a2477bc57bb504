// The two directions of a datapath loop for flannel's udp framing (udp-framing.ts), in the shape the loop worker
// runs: TUN → UDP (udp-encap.ts) and UDP → TUN (udp-decap.ts), each with its batched I/O.
import { COUNTER_INDEX as C } from './counters.js';
import type { DecapConfig } from './decap.js';
import { encapSlabLayout } from './encap.js';
import type { LoopDirectionSizes, RxDirection, TxDirection } from './loop-worker.js';
import { tunIo, udpIo } from './native.js';
import type { PeerTable } from './peer-table.js';
import { UdpEncapBatch } from './udp-encap.js';
import { UDP_RX_SLOT, udpRxSlab, UdpDecap } from './udp-decap.js';

export interface UdpDirectionSetup {
  readonly tunFd: number;
  readonly udpFd: number;
  readonly sendFds: Int32Array;
  readonly port: number;
  readonly sizes: LoopDirectionSizes;
}

/** TUN → UDP. */
export function udpTxDirection(s: UdpDirectionSetup, peers: PeerTable, counters: Float64Array): TxDirection {
  const tun = tunIo();
  const udp = udpIo();
  const { slots, slotSize, icmpSlots, headroom } = s.sizes.tx;
  const layout = encapSlabLayout(slots, slotSize, icmpSlots);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(slots);
  const batch = new UdpEncapBatch(slab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, icmpSlots,
    slots * 64);
  const handle = (n: number): void => {
    batch.frame(s.sendFds, peers, lengths, n, counters);
    if (batch.sendCount > 0) {
      const sent = udp.sendBatch(batch.sendFds, slab, batch.sendOffsets, batch.sendLengths, batch.sendAddrs,
        s.port, batch.sendGso, batch.sendCount);
      counters[C.tx_datagrams]! += sent;
      counters[C.tx_send_failed]! += batch.sendCount - sent;
    }
    if (batch.tunCount > 0) tun.writeBatch(s.tunFd, slab, batch.tunOffsets, batch.tunLengths, batch.tunCount);
  };
  const step = (timeoutMs: number): boolean => {
    const n = tun.readBatch(s.tunFd, slab, slotSize, slots, lengths, timeoutMs, headroom);
    if (n > 0) handle(n);
    return n > 0;
  };
  return { slab, slotSize, lengths, handle, step, readHeadroom: headroom, tunnel: null };
}

/** UDP → TUN. */
export function udpRxDirection(s: UdpDirectionSetup, cfg: DecapConfig, peers: PeerTable, counters: Float64Array): RxDirection {
  const tun = tunIo();
  const udp = udpIo();
  const slots = s.sizes.rx.slots;
  const { whole, view } = udpRxSlab(slots);
  const lengths = new Int32Array(slots);
  const sources = new Uint32Array(slots);
  const gsoSizes = new Int32Array(slots);
  const decap = new UdpDecap(whole, slots);
  const handle = (n: number): void => {
    decap.receive(cfg, peers, n, lengths, sources, gsoSizes, counters);
    const b = decap.batch;
    if (b.writeCount > 0) {
      const written = tun.writeBatch(s.tunFd, whole, b.writeOffsets, b.writeLengths, b.writeCount);
      counters[C.rx_tun_write_failed]! += b.writeCount - written;
    }
  };
  const step = (timeoutMs: number): boolean => {
    const got = udp.recvBatch(s.udpFd, view, UDP_RX_SLOT, slots, lengths, sources, gsoSizes, timeoutMs);
    if (got > 0) handle(got);
    return got > 0;
  };
  return { slab: view, slotSize: UDP_RX_SLOT, lengths, sources, gsoSizes, handle, step };
}
