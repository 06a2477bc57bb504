// The two directions of a datapath loop for flannel's udp framing (udp-framing.ts), in the shape the loop worker
// runs: TUN → UDP sends one bare IPv4 packet per datagram (as UDP_SEGMENT batches); UDP → TUN takes datagrams (and
// UDP_GRO trains of them), checks them and hands each packet to the vxlan receive side's delivery and coalescing.
// The receive slab keeps GAP free bytes before every slot, and a train is spread so each packet has them too: the
// TUN write's virtio_net_hdr goes there (a vxlan frame has its 22-byte prefix for that; a udp datagram has none).
import { COUNTER_INDEX as C } from './counters.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import { encapSlabLayout } from './encap.js';
import type { LoopDirectionSizes, RxDirection, TxDirection } from './loop-worker.js';
import { tunIo, udpIo } from './native.js';
import type { PeerTable } from './peer-table.js';
import { UdpEncapBatch } from './udp-encap.js';
import { decrementTtl, spreadTrain } from './udp-framing.js';
import { ipv4PacketLength } from './wire.js';

/** Free bytes before each received packet (≥ VNET_HDR_LEN). */
const GAP = 16;
/** A receive slot: the largest datagram or GRO train (64 KiB), plus GAP for each of up to 64 train packets. */
const RX_SLOT = 65536 + 64 * GAP + 1024;

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
  return { slab, slotSize, lengths, handle, step };
}

/** UDP → TUN. */
export function udpRxDirection(s: UdpDirectionSetup, cfg: DecapConfig, peers: PeerTable, counters: Float64Array): RxDirection {
  const tun = tunIo();
  const udp = udpIo();
  const slots = s.sizes.rx.slots;
  const whole = new Uint8Array(GAP + slots * RX_SLOT);
  // Datagram i lands at whole[GAP + i*RX_SLOT]; the GAP bytes before it are never written by a receive.
  const slab = whole.subarray(GAP);
  const lengths = new Int32Array(slots);
  const sources = new Uint32Array(slots);
  const gsoSizes = new Int32Array(slots);
  const batch = new DecapBatch(whole, slots * 64);
  const packet = (srcIP: number, ip: number, avail: number): void => {
    const ipLen = ipv4PacketLength(whole, ip, avail);
    if (ipLen === 0) {
      counters[C.drop_not_ipv4]!++;
      return;
    }
    if (!decrementTtl(whole, ip)) {
      counters[C.drop_ttl_expired]!++;
      return;
    }
    batch.innerPacket(cfg, peers, srcIP, ip, ipLen, counters);
  };
  const handle = (n: number): void => {
    batch.reset();
    batch.innerMtuHint = cfg.innerMtu;
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      if (len < 0) {
        counters[C.drop_truncated]!++;
        continue;
      }
      counters[C.rx_datagrams]!++;
      counters[C.rx_bytes]! += len;
      const srcIP = sources[i]!;
      if (!peers.isKnownSource(srcIP)) {
        counters[C.drop_unknown_source]!++;
        continue;
      }
      const start = GAP + i * RX_SLOT;
      const gso = gsoSizes[i]!;
      if (gso <= 0 || len <= gso) {
        packet(srcIP, start, len);
        continue;
      }
      const count = spreadTrain(whole, start, len, gso, GAP, (i + 1) * RX_SLOT);
      if (count === 0) {
        counters[C.drop_truncated]!++;
        continue;
      }
      for (let k = 0; k < count; k++) packet(srcIP, start + k * (gso + GAP), Math.min(gso, len - k * gso));
    }
    batch.flush(counters);
    if (batch.writeCount > 0) {
      const written = tun.writeBatch(s.tunFd, whole, batch.writeOffsets, batch.writeLengths, batch.writeCount);
      counters[C.rx_tun_write_failed]! += batch.writeCount - written;
    }
  };
  const step = (timeoutMs: number): boolean => {
    const got = udp.recvBatch(s.udpFd, slab, RX_SLOT, slots, lengths, sources, gsoSizes, timeoutMs);
    if (got > 0) handle(got);
    return got > 0;
  };
  return { slab, slotSize: RX_SLOT, lengths, sources, gsoSizes, handle, step };
}
