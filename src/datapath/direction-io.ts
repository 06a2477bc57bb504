// The batched I/O both framings' loop directions do around their own per-packet work (loop-worker.ts for vxlan,
// udp-directions.ts for udp): one place for the send / TUN write bookkeeping and the receive step. Called once per
// batch, never per packet.
import { COUNTER_INDEX as C } from './counters.js';
import type { RxDirection } from './loop-worker.js';
import { tunIo, udpIo } from './native.js';
import type { TxQueues } from './tx-queues.js';

/** The TUN write queue a receive side fills for one batch. */
export interface TunWrites {
  readonly writeOffsets: Int32Array;
  readonly writeLengths: Int32Array;
  readonly writeCount: number;
}

/** Sends what a transmit batch queued (one sendBatch to `port`) and writes its ICMP answers into the TUN. */
export function flushTxQueues(batch: TxQueues, tunFd: number, port: number, counters: Float64Array): void {
  if (batch.sendCount > 0) {
    const sent = udpIo().sendBatch(batch.sendFds, batch.slab, batch.sendOffsets, batch.sendLengths, batch.sendAddrs,
      port, batch.sendGso, batch.sendCount);
    counters[C.tx_datagrams]! += sent;
    counters[C.tx_send_failed]! += batch.sendCount - sent;
  }
  if (batch.tunCount > 0) tunIo().writeBatch(tunFd, batch.slab, batch.tunOffsets, batch.tunLengths, batch.tunCount);
}

export interface RxSetup {
  readonly tunFd: number;
  readonly udpFd: number;
  /** Where recvBatch puts datagram i: at i*slotSize. */
  readonly slab: Uint8Array;
  readonly slotSize: number;
  readonly slots: number;
  /** What the TUN write offsets count from (the slab, or a larger buffer the slab is a view of). */
  readonly writeSlab: Uint8Array;
}

/**
 * UDP → TUN around one framing's receive step: `receive` handles n datagrams (lengths, sources and GRO sizes of
 * the returned direction) and returns the TUN writes it queued.
 */
export function rxDirectionAround(s: RxSetup, counters: Float64Array,
  receive: (n: number, rx: RxDirection) => TunWrites): RxDirection {
  const tun = tunIo();
  const udp = udpIo();
  const lengths = new Int32Array(s.slots);
  const sources = new Uint32Array(s.slots);
  const gsoSizes = new Int32Array(s.slots);
  const handle = (n: number): void => {
    const b = receive(n, rx);
    if (b.writeCount > 0) {
      const written = tun.writeBatch(s.tunFd, s.writeSlab, b.writeOffsets, b.writeLengths, b.writeCount);
      counters[C.rx_tun_write_failed]! += b.writeCount - written;
    }
  };
  const step = (timeoutMs: number): boolean => {
    const got = udp.recvBatch(s.udpFd, s.slab, s.slotSize, s.slots, lengths, sources, gsoSizes, timeoutMs);
    if (got > 0) handle(got);
    return got > 0;
  };
  const rx: RxDirection = { slab: s.slab, slotSize: s.slotSize, lengths, sources, gsoSizes, handle, step };
  return rx;
}
