// Transmit side of the loop, without I/O: packets read from the TUN (each behind a virtio_net_hdr) become VXLAN
// datagrams queued for one batched send. Plain packets are encapsulated in place (the read left headroom for the
// 22-byte prefix); TSO super-packets are segmented into the output area for one UDP_SEGMENT send per ≤64 KiB.
// With a tunnel-GSO TAP (tunnel-frame.ts) every packet instead becomes one TAP write of the whole VXLAN frame, a TSO
// super-packet included, and the kernel segments it: the read then leaves TUNNEL_ROOM more headroom for the
// virtio tunnel header and the outer headers.
import { COUNTER_INDEX as C } from './counters.js';
import { innerFlowHash } from './flow-hash.js';
import { MAX_ICMP_REPLY_LEN } from './icmp.js';
import type { PeerTable } from './peer-table.js';
import { tcp4HeaderLen } from './segment.js';
import {
  MAX_TUNNEL_INNER_LEN, TUNNEL_ROOM, tunnelSourcePort, writeOuterHeaders, writeTunnelVnetHdr, type TunnelConfig,
} from './tunnel-frame.js';
import { isPlainPacket, isTcp4Tso, TxQueues } from './tx-queues.js';
import { readVnetHdr, VNET_HDR_LEN, VNET_TUNNEL_HDR_LEN, type VnetHdr } from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, ipv4PacketLength, writeEncapPrefix } from './wire.js';

export { ICMP_UNREACHABLE_BURST, ICMP_UNREACHABLE_PER_SECOND } from './tx-queues.js';

/** Headroom in front of each TUN read: prefix (22) − virtio header (10), so the IPv4 packet sits right after a prefix. */
export const TUN_READ_HEADROOM = ENCAP_PREFIX_LEN - VNET_HDR_LEN;

export interface EncapConfig {
  readonly vni: number;
  readonly ownMac: Uint8Array;
  /** One fd per outer source port; the flow hash picks one. */
  readonly sendFds: Int32Array;
}

/** Reusable per-thread state: the send and TUN queues (TxQueues), plus the TAP queue of the tunnel-GSO path. */
export class EncapBatch extends TxQueues {
  /** Whole VXLAN frames for the tunnel-GSO TAP (empty without one). */
  readonly tapOffsets: Int32Array;
  readonly tapLengths: Int32Array;
  tapCount = 0;
  /** Where the encap prefix goes in a read slot: after room for the tunnel frame's headers, when there is a TAP. */
  private readonly prefixAt: number;
  private ipId = 0;

  /**
   * `slab` holds `readSlots` read slots of `slotSize` bytes, then the segment output area from `outStart`, then
   * `icmpSlots` ICMP reply slots from `icmpStart`. With `tunnel`, packets become frames for the tunnel-GSO TAP.
   */
  constructor(slab: Uint8Array, slotSize: number, outStart: number, outEnd: number, icmpStart: number,
    icmpSlots: number, maxMessages: number, private readonly tunnel: TunnelConfig | null = null) {
    super(slab, slotSize, outStart, outEnd, icmpStart, icmpSlots, maxMessages);
    this.prefixAt = tunnel === null ? 0 : TUNNEL_ROOM;
    this.tapOffsets = new Int32Array(tunnel === null ? 0 : maxMessages);
    this.tapLengths = new Int32Array(tunnel === null ? 0 : maxMessages);
  }

  /** Where each TUN read goes in its slot (the readers' headroom). */
  get readHeadroom(): number {
    return this.prefixAt + TUN_READ_HEADROOM;
  }

  /** Processes `count` reads (slot i at i*slotSize, lengths[i] bytes from readHeadroom on). */
  encapsulate(cfg: EncapConfig, peers: PeerTable, lengths: Int32Array, count: number, counters: Float64Array): void {
    this.sendCount = 0;
    this.tunCount = 0;
    this.tapCount = 0;
    let outPos = this.outStart;
    const slab = this.slab;
    for (let i = 0; i < count; i++) {
      const prefix = i * this.slotSize + this.prefixAt;
      const ip = prefix + ENCAP_PREFIX_LEN;
      const len = lengths[i]! - VNET_HDR_LEN;
      const ipLen = ipv4PacketLength(slab, ip, len);
      const peer = this.peerOf(peers, ip, ipLen, len, counters);
      if (peer < 0) continue;
      const vnet = readVnetHdr(slab, prefix + TUN_READ_HEADROOM, this.vnet);
      const hash = innerFlowHash(slab, ip, len);
      const fd = cfg.sendFds[(hash >>> 0) % cfg.sendFds.length]!;
      // As an int32 (the same bits): it crosses calls below, where a uint32 above 2^31 would be a heap number.
      const publicIP = peers.publicIPs[peer]! | 0;
      writeEncapPrefix(slab, prefix, cfg.vni, peers.macs, peer * 6, cfg.ownMac);
      if (this.tunnel !== null && this.queueTunnelFrame(this.tunnel, prefix, ipLen, vnet, hash, publicIP, counters)) {
        continue;
      }
      if (isTcp4Tso(vnet)) {
        if (!this.segment(ip, ipLen, vnet.gsoSize, prefix, outPos, counters)) continue;
        const seg = this.seg;
        this.queueSegments(fd, publicIP, outPos, seg.count, seg.segmentSize, seg.bytes,
          seg.bytes - seg.count * ENCAP_PREFIX_LEN, counters);
        outPos += seg.bytes;
        continue;
      }
      if (!isPlainPacket(vnet)) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      this.completeChecksum(vnet, ip, ipLen);
      this.queue(fd, publicIP, prefix, ENCAP_PREFIX_LEN + ipLen, 0);
      counters[C.tx_packets]!++;
      counters[C.tx_bytes]! += ipLen;
    }
  }

  /**
   * One frame for the TAP: tunnel virtio header and outer headers in front of the prefix at `prefix`. False when
   * this packet cannot go that way (too large for one outer IPv4 packet, a GSO type the kernel would refuse): it
   * then takes the segmenting path.
   */
  private queueTunnelFrame(tunnel: TunnelConfig, prefix: number, ipLen: number, vnet: VnetHdr, hash: number,
    publicIP: number, counters: Float64Array): boolean {
    const n = this.tapCount;
    if (ipLen > MAX_TUNNEL_INNER_LEN || n >= this.tapOffsets.length) return false;
    const ip = prefix + ENCAP_PREFIX_LEN;
    const tso = isTcp4Tso(vnet);
    const hdrLen = tso ? tcp4HeaderLen(this.slab, ip, ipLen) : 0;
    if (tso && hdrLen === 0) return false;
    const frame = prefix - TUNNEL_ROOM;
    if (!writeTunnelVnetHdr(this.slab, frame, vnet, hdrLen)) return false;
    writeOuterHeaders(this.slab, frame + VNET_TUNNEL_HDR_LEN, tunnel, publicIP, tunnelSourcePort(hash), this.ipId,
      ENCAP_PREFIX_LEN + ipLen);
    this.ipId = (this.ipId + 1) & 0xffff;
    this.tapOffsets[n] = frame;
    this.tapLengths[n] = TUNNEL_ROOM + ENCAP_PREFIX_LEN + ipLen;
    this.tapCount = n + 1;
    counters[C.tx_tunnel_frames]!++;
    counters[C.tx_packets]! += tso ? Math.max(1, Math.ceil((ipLen - hdrLen) / vnet.gsoSize)) : 1;
    counters[C.tx_bytes]! += ipLen;
    return true;
  }
}

/** Bytes of slab an EncapBatch needs for `slots` reads of `slotSize` and `icmpSlots` ICMP replies. */
export function encapSlabLayout(slots: number, slotSize: number, icmpSlots: number): {
  size: number; outStart: number; outEnd: number; icmpStart: number;
} {
  const outStart = slots * slotSize;
  // A 64 KiB frame of 1-byte segments is absurd; real MSS ≥ 500 bounds the growth to headers per segment.
  const outEnd = outStart + slots * (slotSize + 256 * 80);
  const icmpStart = outEnd;
  return { size: icmpStart + icmpSlots * (VNET_HDR_LEN + MAX_ICMP_REPLY_LEN), outStart, outEnd, icmpStart };
}
