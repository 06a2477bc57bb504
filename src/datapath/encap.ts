// Transmit side of the loop, without I/O: packets read from the TUN (each behind a virtio_net_hdr) become VXLAN
// datagrams queued for one batched send. Plain packets are encapsulated in place (the read left headroom for the
// 22-byte prefix); TSO super-packets are segmented into the output area for one UDP_SEGMENT send per ≤64 KiB.
// With a tunnel-GSO TAP (tunnel-frame.ts) every packet instead becomes one TAP write of the whole VXLAN frame, a TSO
// super-packet included, and the kernel segments it: the read then leaves TUNNEL_ROOM more headroom for the
// virtio tunnel header and the outer headers.
import { completePartialChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { innerFlowHash } from './flow-hash.js';
import { ICMP_NET_UNREACH, MAX_ICMP_REPLY_LEN, mayAnswerWithIcmpError, writeIcmpUnreachable } from './icmp.js';
import type { PeerTable } from './peer-table.js';
import { emptySegmentResult, segmentTcp4, tcp4HeaderLen } from './segment.js';
import { TokenBucket } from './token-bucket.js';
import {
  MAX_TUNNEL_INNER_LEN, TUNNEL_ROOM, tunnelSourcePort, writeOuterHeaders, writeTunnelVnetHdr, type TunnelConfig,
} from './tunnel-frame.js';
import {
  emptyVnetHdr, readVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4,
  VNET_HDR_LEN, VNET_TUNNEL_HDR_LEN, writePlainVnetHdr, type VnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, IPPROTO_UDP, ipv4PacketLength, readU32, writeEncapPrefix } from './wire.js';

/** Headroom in front of each TUN read: prefix (22) − virtio header (10), so the IPv4 packet sits right after a prefix. */
export const TUN_READ_HEADROOM = ENCAP_PREFIX_LEN - VNET_HDR_LEN;
/** The kernel's cap on one UDP_SEGMENT send: 64 segments, and an IPv4 datagram ≤ 65535 bytes. */
const MAX_GSO_SEGMENTS = 64;
const MAX_UDP_PAYLOAD = 65535 - 20 - 8;
/** ICMP unreachable replies per second (and burst), so a flood to an unknown subnet costs reads, not replies. */
export const ICMP_UNREACHABLE_PER_SECOND = 100;
export const ICMP_UNREACHABLE_BURST = 50;

export interface EncapConfig {
  readonly vni: number;
  readonly ownMac: Uint8Array;
  /** One fd per outer source port; the flow hash picks one. */
  readonly sendFds: Int32Array;
}

/** Reusable per-thread state: the send queue handed to sendBatch and the TUN write queue for ICMP errors. */
export class EncapBatch {
  readonly sendFds: Int32Array;
  readonly sendOffsets: Int32Array;
  readonly sendLengths: Int32Array;
  readonly sendAddrs: Uint32Array;
  readonly sendGso: Int32Array;
  sendCount = 0;
  readonly tunOffsets: Int32Array;
  readonly tunLengths: Int32Array;
  tunCount = 0;
  /** Whole VXLAN frames for the tunnel-GSO TAP (empty without one). */
  readonly tapOffsets: Int32Array;
  readonly tapLengths: Int32Array;
  tapCount = 0;
  /** Where the encap prefix goes in a read slot: after room for the tunnel frame's headers, when there is a TAP. */
  private readonly prefixAt: number;
  private ipId = 0;
  private readonly vnet = emptyVnetHdr();
  private readonly seg = emptySegmentResult();
  private readonly icmpBudget = new TokenBucket(ICMP_UNREACHABLE_PER_SECOND, ICMP_UNREACHABLE_BURST);
  /** The clock of the ICMP budget; replaceable by tests. */
  now: () => number = () => performance.now();

  /**
   * `slab` holds `readSlots` read slots of `slotSize` bytes, then the segment output area from `outStart`, then
   * `icmpSlots` ICMP reply slots from `icmpStart`. With `tunnel`, packets become frames for the tunnel-GSO TAP.
   */
  constructor(readonly slab: Uint8Array, readonly slotSize: number, readonly outStart: number,
    readonly outEnd: number, readonly icmpStart: number, readonly icmpSlots: number, maxMessages: number,
    private readonly tunnel: TunnelConfig | null = null) {
    this.prefixAt = tunnel === null ? 0 : TUNNEL_ROOM;
    this.tapOffsets = new Int32Array(tunnel === null ? 0 : maxMessages);
    this.tapLengths = new Int32Array(tunnel === null ? 0 : maxMessages);
    this.sendFds = new Int32Array(maxMessages);
    this.sendOffsets = new Int32Array(maxMessages);
    this.sendLengths = new Int32Array(maxMessages);
    this.sendAddrs = new Uint32Array(maxMessages);
    this.sendGso = new Int32Array(maxMessages);
    this.tunOffsets = new Int32Array(icmpSlots);
    this.tunLengths = new Int32Array(icmpSlots);
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
      if (ipLen === 0) {
        counters[C.drop_not_ipv4]!++;
        continue;
      }
      const dst = readU32(slab, ip + 16);
      const peer = peers.lookup(dst);
      if (peer < 0) {
        counters[C.drop_no_route]!++;
        this.answerUnreachable(peers.subnetAddressOf(dst), ip, len, counters);
        continue;
      }
      const vnet = readVnetHdr(slab, prefix + TUN_READ_HEADROOM, this.vnet);
      const hash = innerFlowHash(slab, ip, len);
      const fd = cfg.sendFds[hash % cfg.sendFds.length]!;
      const publicIP = peers.publicIPs[peer]!;
      writeEncapPrefix(slab, prefix, cfg.vni, peers.macs, peer * 6, cfg.ownMac);
      if (this.tunnel !== null && this.queueTunnelFrame(this.tunnel, prefix, ipLen, vnet, hash, publicIP, counters)) {
        continue;
      }
      const gsoType = vnet.gsoType & ~VNET_HDR_GSO_ECN;
      if (gsoType === VNET_HDR_GSO_TCPV4 && vnet.gsoSize > 0) {
        if (outPos + ipLen + Math.ceil(ipLen / vnet.gsoSize) * (ENCAP_PREFIX_LEN + 120) > this.outEnd) {
          // Only a batch of frames with a tiny MSS can overflow the area (sized for 64 KiB frames of MSS ≥ 256).
          counters[C.tx_send_failed]!++;
          continue;
        }
        if (!segmentTcp4(slab, ip, ipLen, vnet.gsoSize, prefix, outPos, this.outEnd, this.seg)) {
          counters[C.drop_bad_ip]!++;
          continue;
        }
        counters[C.tx_tso_frames]!++;
        this.queueSegments(fd, publicIP, outPos, this.seg.count, this.seg.segmentSize, this.seg.bytes, counters);
        outPos += this.seg.bytes;
        continue;
      }
      if (gsoType !== VNET_HDR_GSO_NONE) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      if ((vnet.flags & VNET_HDR_F_NEEDS_CSUM) !== 0 && vnet.csumStart + vnet.csumOffset + 2 <= ipLen) {
        completePartialChecksum(slab, ip + vnet.csumStart, vnet.csumOffset, ip + ipLen,
          slab[ip + 9] === IPPROTO_UDP);
      }
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
    const tso = vnet.gsoSize > 0 && (vnet.gsoType & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_TCPV4;
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

  private queueSegments(fd: number, publicIP: number, start: number, count: number, segSize: number, bytes: number,
    counters: Float64Array): void {
    const perSend = Math.max(1, Math.min(MAX_GSO_SEGMENTS, Math.floor(MAX_UDP_PAYLOAD / segSize)));
    let off = start;
    const end = start + bytes;
    for (let done = 0; done < count; done += perSend) {
      const n = Math.min(perSend, count - done);
      const len = Math.min(n * segSize, end - off);
      this.queue(fd, publicIP, off, len, n > 1 ? segSize : 0);
      off += len;
    }
    counters[C.tx_packets]! += count;
    counters[C.tx_bytes]! += bytes - count * ENCAP_PREFIX_LEN;
  }

  private queue(fd: number, publicIP: number, off: number, len: number, gso: number): void {
    const n = this.sendCount;
    if (n >= this.sendFds.length) return;
    this.sendFds[n] = fd;
    this.sendOffsets[n] = off;
    this.sendLengths[n] = len;
    this.sendAddrs[n] = publicIP;
    this.sendGso[n] = gso;
    this.sendCount = n + 1;
  }

  /**
   * Answers from the unreachable subnet's network address, as the router of that subnet would: our own address
   * would arrive from the TUN as a martian source and be dropped by the kernel.
   */
  private answerUnreachable(fromIP: number, ip: number, len: number, counters: Float64Array): void {
    if (this.tunCount >= this.icmpSlots || !mayAnswerWithIcmpError(this.slab, ip, len)) return;
    if (!this.icmpBudget.take(this.now())) {
      counters[C.icmp_unreachable_limited]!++;
      return;
    }
    const off = this.icmpStart + this.tunCount * (VNET_HDR_LEN + MAX_ICMP_REPLY_LEN);
    writePlainVnetHdr(this.slab, off);
    const n = writeIcmpUnreachable(this.slab, ip, len, fromIP, ICMP_NET_UNREACH, this.slab, off + VNET_HDR_LEN);
    this.tunOffsets[this.tunCount] = off;
    this.tunLengths[this.tunCount] = VNET_HDR_LEN + n;
    this.tunCount++;
    counters[C.icmp_unreachable_sent]!++;
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
