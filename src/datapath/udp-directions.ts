// The two directions of a datapath loop for flannel's udp framing (udp-framing.ts), in the shape the loop worker
// runs: TUN → UDP (udp-encap.ts) and UDP → TUN (udp-decap.ts), each with its batched I/O.
import type { DecapConfig } from './decap.js';
import { flushTxQueues, rxDirectionAround } from './direction-io.js';
import { encapSlabLayout } from './encap.js';
import type { LoopDirectionSizes, RxDirection, TxDirection } from './loop-worker.js';
import { tunIo } from './native.js';
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
  const { slots, slotSize, icmpSlots, headroom } = s.sizes.tx;
  const layout = encapSlabLayout(slots, slotSize, icmpSlots);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(slots);
  const batch = new UdpEncapBatch(slab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, icmpSlots,
    slots * 64);
  const handle = (n: number): void => {
    batch.frame(s.sendFds, peers, lengths, n, counters);
    flushTxQueues(batch, s.tunFd, s.port, counters);
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
  const slots = s.sizes.rx.slots;
  const { whole, view } = udpRxSlab(slots);
  const decap = new UdpDecap(whole, slots);
  const setup = { tunFd: s.tunFd, udpFd: s.udpFd, slab: view, slotSize: UDP_RX_SLOT, slots, writeSlab: whole };
  return rxDirectionAround(setup, counters, (n, rx) => {
    decap.receive(cfg, peers, n, rx.lengths, rx.sources, rx.gsoSizes, counters);
    return decap.batch;
  });
}
