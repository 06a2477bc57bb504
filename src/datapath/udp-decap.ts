// Receive side of the udp framing, without I/O: a batch of received datagrams (UDP_GRO trains among them), each one
// bare IPv4 packet, checked and handed to the vxlan receive side's delivery (anti-injection, coalescing into TSO
// writes). The slab keeps UDP_RX_GAP free bytes before every slot, and a train is spread so that each packet has
// them too: the TUN write's virtio_net_hdr goes there (a vxlan frame has its 22-byte prefix for that).
import { COUNTER_INDEX as C } from './counters.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import type { PeerTable } from './peer-table.js';
import { decrementTtl, spreadTrain } from './udp-framing.js';
import { ipv4PacketLength } from './wire.js';

/** Free bytes before each received packet (≥ VNET_HDR_LEN). */
export const UDP_RX_GAP = 16;
/** A receive slot: the largest datagram or GRO train (64 KiB), plus the gap for each of up to 64 train packets. */
export const UDP_RX_SLOT = 65536 + 64 * UDP_RX_GAP + 1024;

/** The slab of `slots` receive slots, and the view of it receive writes into (datagram i at view[i*UDP_RX_SLOT]). */
export function udpRxSlab(slots: number): { whole: Uint8Array; view: Uint8Array } {
  const whole = new Uint8Array(UDP_RX_GAP + slots * UDP_RX_SLOT);
  return { whole, view: whole.subarray(UDP_RX_GAP) };
}

export class UdpDecap {
  /** The TUN writes, in `whole` (DecapBatch's writeOffsets/writeLengths/writeCount). */
  readonly batch: DecapBatch;

  constructor(private readonly whole: Uint8Array, slots: number) {
    this.batch = new DecapBatch(whole, slots * 64);
  }

  /** The `n` datagrams just received (lengths -1: truncated; gsoSizes: the GRO segment size or 0). */
  receive(cfg: DecapConfig, peers: PeerTable, n: number, lengths: Int32Array, sources: Uint32Array, gsoSizes: Int32Array,
    counters: Float64Array): void {
    const batch = this.batch;
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
      const srcIP = sources[i]! | 0; // int32, passed through calls (see wire.ts readI32)
      if (!peers.isKnownSource(srcIP)) {
        counters[C.drop_unknown_source]!++;
        continue;
      }
      const start = UDP_RX_GAP + i * UDP_RX_SLOT;
      const gso = gsoSizes[i]!;
      if (gso <= 0 || len <= gso) {
        this.packet(cfg, peers, srcIP, start, len, counters);
        continue;
      }
      const count = spreadTrain(this.whole, start, len, gso, UDP_RX_GAP, (i + 1) * UDP_RX_SLOT);
      if (count === 0) {
        counters[C.drop_truncated]!++;
        continue;
      }
      for (let k = 0; k < count; k++) {
        this.packet(cfg, peers, srcIP, start + k * (gso + UDP_RX_GAP), Math.min(gso, len - k * gso), counters);
      }
    }
    batch.flush(counters);
  }

  private packet(cfg: DecapConfig, peers: PeerTable, srcIP: number, ip: number, avail: number, counters: Float64Array): void {
    const ipLen = ipv4PacketLength(this.whole, ip, avail);
    if (ipLen === 0) {
      counters[C.drop_not_ipv4]!++;
      return;
    }
    if (!decrementTtl(this.whole, ip)) {
      counters[C.drop_ttl_expired]!++;
      return;
    }
    this.batch.innerPacket(cfg, peers, srcIP, ip, ipLen, counters);
  }
}
