// Transmit side of the IPv6 half, without I/O: inner IPv6 packets read from flannel-v6.<VNI> (each behind a
// virtio_net_hdr) become VXLAN datagrams for the peer's PublicIPv6. Plain packets are encapsulated in place; TSO6
// super-packets are cut into segments (segment.cc) for UDP_SEGMENT sends. The segment size is clamped so that each
// outer IPv6 datagram fits the underlay MTU: the kernel refuses a UDP_SEGMENT send whose segments would need
// fragmenting, and FLANNEL_MTU (ext − 50, upstream's) leaves 20 bytes too few for an IPv6 outer header.
// With a tunnel-GSO TAP (tunnel-frame6.ts) every packet instead becomes one TAP write of the whole VXLAN frame, a
// TSO6 frame included, with the same MSS clamp given to the kernel as the segment size: the read then leaves
// TUNNEL6_ROOM more headroom for the virtio tunnel header and the outer headers.
import { completePartialChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { MAX_ICMP6_REPLY_LEN, mayAnswerWithIcmp6Error, writeIcmp6Unreachable } from './icmp6.js';
import { TokenBucket } from './token-bucket.js';
import { ICMP_UNREACHABLE_BURST, ICMP_UNREACHABLE_PER_SECOND } from './tx-queues.js';
import { segmentation6 } from './native6.js';
import { IPV6_HEADER_LEN, ipv6PacketLength, type PeerTable6 } from './peer-table6.js';
import {
  MAX_TUNNEL6_INNER_LEN, TUNNEL6_OVERHEAD, TUNNEL6_ROOM, tunnel6Mss, writeOuter6Headers, writeTunnel6VnetHdr, type Tunnel6Config,
} from './tunnel-frame6.js';
import { tunnelSourcePort } from './tunnel-frame.js';
import {
  emptyVnetHdr, readVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV6,
  VNET_HDR_LEN, VNET_TUNNEL_HDR_LEN, writePlainVnetHdr, type VnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, ETHERTYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP, readI32, writeEncapPrefix } from './wire.js';

export { VNET_HDR_GSO_TCPV6 } from './virtio-hdr.js';
/** Outer IPv6 (40) + UDP (8) headers. */
export const OUTER6_HEADER_LEN = 48;
/** Headroom in front of each TUN read, so the IPv6 packet sits right after a 22-byte prefix. */
export const TUN6_READ_HEADROOM = ENCAP_PREFIX_LEN - VNET_HDR_LEN;
const MAX_GSO_SEGMENTS = 64;
const MAX_UDP6_PAYLOAD = 65535 - 8;
const ICMP_SLOTS = 16;
const ICMP_SLOT = VNET_HDR_LEN + MAX_ICMP6_REPLY_LEN;

export interface Encap6Config {
  readonly vni: number;
  readonly ownMac: Uint8Array;
  readonly sendFds: Int32Array;
  /** The underlay MTU: an outer datagram of a segment stays within it. */
  readonly outerMtu: number;
}

/**
 * Hash of the inner flow (addresses' low words, next header, ports) for the sending socket: one flow, one path. An
 * int32, never a heap number (wire.ts readI32): `>>> 0` of it where an unsigned value is needed.
 */
export function innerFlowHash6(buf: Uint8Array, ip: number, len: number): number {
  let h = Math.imul(readI32(buf, ip + 20) ^ readI32(buf, ip + 36), 0x9e3779b1) ^ buf[ip + 6]!;
  const next = buf[ip + 6];
  if ((next === IPPROTO_TCP || next === IPPROTO_UDP) && len >= IPV6_HEADER_LEN + 4) {
    h = Math.imul(h ^ readI32(buf, ip + IPV6_HEADER_LEN), 0x85ebca6b);
  }
  return h ^ (h >>> 15);
}

/** Reusable per-thread state: the send queue of one batch (destinations as 4 words each). */
export class Encap6Batch {
  readonly sendFds: Int32Array;
  readonly sendOffsets: Int32Array;
  readonly sendLengths: Int32Array;
  readonly sendAddrs: Uint32Array;
  readonly sendGso: Int32Array;
  sendCount = 0;
  /** ICMPv6 "no route" answers for the TUN (rate-limited as for IPv4), in icmpSlab. */
  readonly icmpSlab = new Uint8Array(ICMP_SLOTS * ICMP_SLOT);
  readonly tunOffsets = new Int32Array(ICMP_SLOTS);
  readonly tunLengths = new Int32Array(ICMP_SLOTS);
  tunCount = 0;
  private readonly icmpBudget = new TokenBucket(ICMP_UNREACHABLE_PER_SECOND, ICMP_UNREACHABLE_BURST);
  private readonly from = new Uint8Array(16);
  /** The clock of the ICMP budget; replaceable by tests. */
  now: () => number = () => performance.now();
  private readonly vnet = emptyVnetHdr();
  private readonly layout = new Int32Array(2);
  /** The header an oversized single TCP packet is sent under, as a TSO6 frame (queueTunnelFrame). */
  private readonly oversize = emptyVnetHdr();
  /** Whole VXLAN frames for the tunnel-GSO TAP (empty without one). */
  readonly tapOffsets: Int32Array;
  readonly tapLengths: Int32Array;
  tapCount = 0;
  /** Where the encap prefix goes in a read slot: after room for the tunnel frame's headers, when there is a TAP. */
  private readonly prefixAt: number;

  /**
   * `slab`: `slots` read slots of `slotSize`, then the segment output area [outStart, outEnd). With `tunnel`,
   * packets become frames for the tunnel-GSO TAP.
   */
  constructor(readonly slab: Uint8Array, readonly slotSize: number, readonly outStart: number,
    readonly outEnd: number, maxMessages: number, private readonly tunnel: Tunnel6Config | null = null) {
    this.sendFds = new Int32Array(maxMessages);
    this.sendOffsets = new Int32Array(maxMessages);
    this.sendLengths = new Int32Array(maxMessages);
    this.sendAddrs = new Uint32Array(4 * maxMessages);
    this.sendGso = new Int32Array(maxMessages);
    this.prefixAt = tunnel === null ? 0 : TUNNEL6_ROOM;
    this.tapOffsets = new Int32Array(tunnel === null ? 0 : maxMessages);
    this.tapLengths = new Int32Array(tunnel === null ? 0 : maxMessages);
  }

  /** Where each TUN read goes in its slot (the reader's headroom). */
  get readHeadroom(): number {
    return this.prefixAt + TUN6_READ_HEADROOM;
  }

  /** Processes `count` reads (slot i at i*slotSize, lengths[i] bytes from readHeadroom on). */
  encapsulate(cfg: Encap6Config, peers: PeerTable6, lengths: Int32Array, count: number, counters: Float64Array): void {
    this.sendCount = 0;
    this.tunCount = 0;
    this.tapCount = 0;
    let outPos = this.outStart;
    const slab = this.slab;
    for (let i = 0; i < count; i++) {
      const prefix = i * this.slotSize + this.prefixAt;
      const ip = prefix + ENCAP_PREFIX_LEN;
      const len = lengths[i]! - VNET_HDR_LEN;
      const ipLen = ipv6PacketLength(slab, ip, len);
      if (ipLen === 0) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      const peer = peers.lookup(slab, ip + 24);
      if (peer < 0) {
        counters[C.drop_no_route]!++;
        this.answerNoRoute(peers, ip, ipLen, counters);
        continue;
      }
      const vnet = readVnetHdr(slab, prefix + TUN6_READ_HEADROOM, this.vnet);
      const hash = innerFlowHash6(slab, ip, ipLen);
      const fd = cfg.sendFds[(hash >>> 0) % cfg.sendFds.length]!;
      writeEncapPrefix(slab, prefix, cfg.vni, peers.macs, peer * 6, cfg.ownMac, ETHERTYPE_IPV6);
      if (this.tunnel !== null
        && this.queueTunnelFrame(this.tunnel, cfg.outerMtu, peers, peer, prefix, ipLen, vnet, hash, counters)) {
        continue;
      }
      const gsoType = vnet.gsoType & ~VNET_HDR_GSO_ECN;
      if (gsoType === VNET_HDR_GSO_TCPV6 && vnet.gsoSize > 0) {
        const used = this.segment(cfg, peers, peer, fd, ip, ipLen, vnet.gsoSize, prefix, outPos, counters);
        outPos += used;
        continue;
      }
      if (gsoType !== VNET_HDR_GSO_NONE) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      if ((vnet.flags & VNET_HDR_F_NEEDS_CSUM) !== 0 && vnet.csumStart + vnet.csumOffset + 2 <= ipLen) {
        completePartialChecksum(slab, ip + vnet.csumStart, vnet.csumOffset, ip + ipLen, slab[ip + 6] === IPPROTO_UDP);
      }
      this.queue(fd, peers, peer, prefix, ENCAP_PREFIX_LEN + ipLen, 0);
      counters[C.tx_packets]!++;
      counters[C.tx_bytes]! += ipLen;
    }
  }

  /**
   * One frame for the TAP: tunnel virtio header and outer headers in front of the prefix at `prefix`. False when
   * this packet cannot go that way (too large for one outer IPv6 datagram, a GSO type or header the kernel would
   * refuse): it then takes the segmenting path.
   */
  private queueTunnelFrame(tunnel: Tunnel6Config, outerMtu: number, peers: PeerTable6, peer: number, prefix: number,
    ipLen: number, vnet: VnetHdr, hash: number, counters: Float64Array): boolean {
    const n = this.tapCount;
    if (ipLen > MAX_TUNNEL6_INNER_LEN || n >= this.tapOffsets.length) return false;
    const slab = this.slab;
    const ip = prefix + ENCAP_PREFIX_LEN;
    let tso = (vnet.gsoType & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_TCPV6 && vnet.gsoSize > 0;
    if (!tso && ipLen + TUNNEL6_OVERHEAD > outerMtu) {
      // One packet too large for one outer datagram (FLANNEL_MTU leaves 20 bytes too few for IPv6): the TAP's frames
      // are forwarded, and IPv6 forwarding never fragments. A TCP one the TUN left partial goes as a TSO6 frame of
      // segments that fit; anything else the socket way, which fragments at the source as the kernel's device does.
      if (slab[ip + 6] !== IPPROTO_TCP || (vnet.flags & VNET_HDR_F_NEEDS_CSUM) === 0
        || vnet.gsoType !== VNET_HDR_GSO_NONE) return false;
      const o = this.oversize;
      o.flags = vnet.flags;
      o.gsoType = VNET_HDR_GSO_TCPV6;
      o.gsoSize = ipLen;
      o.csumStart = vnet.csumStart;
      o.csumOffset = vnet.csumOffset;
      vnet = o;
      tso = true;
    }
    let hdrLen = 0;
    let mss = 0;
    if (tso) {
      if (slab[ip + 6] !== IPPROTO_TCP || ipLen < IPV6_HEADER_LEN + 20) return false;
      hdrLen = IPV6_HEADER_LEN + (slab[ip + IPV6_HEADER_LEN + 12]! >> 4) * 4;
      mss = tunnel6Mss(vnet.gsoSize, hdrLen, outerMtu);
    }
    const frame = prefix - TUNNEL6_ROOM;
    if (!writeTunnel6VnetHdr(slab, frame, vnet, hdrLen, mss)) return false;
    if (!tso && (vnet.flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
      if (vnet.csumStart + vnet.csumOffset + 2 > ipLen) return false;
      completePartialChecksum(slab, ip + vnet.csumStart, vnet.csumOffset, ip + ipLen, slab[ip + 6] === IPPROTO_UDP);
    }
    writeOuter6Headers(slab, frame + VNET_TUNNEL_HDR_LEN, tunnel, peers.publicIPs, peer, tunnelSourcePort(hash),
      ENCAP_PREFIX_LEN + ipLen);
    this.tapOffsets[n] = frame;
    this.tapLengths[n] = TUNNEL6_ROOM + ENCAP_PREFIX_LEN + ipLen;
    this.tapCount = n + 1;
    counters[C.tx_tunnel_frames]!++;
    counters[C.tx_packets]! += tso ? Math.max(1, Math.ceil((ipLen - hdrLen) / mss)) : 1;
    counters[C.tx_bytes]! += ipLen;
    return true;
  }

  /** Cuts a TSO6 packet into segments at `outPos` and queues their sends; returns the output bytes used. */
  private segment(cfg: Encap6Config, peers: PeerTable6, peer: number, fd: number, ip: number, ipLen: number,
    gsoSize: number, prefix: number, outPos: number, counters: Float64Array): number {
    const hdrLen = IPV6_HEADER_LEN + (this.slab[ip + IPV6_HEADER_LEN + 12]! >> 4) * 4;
    const mss = Math.min(gsoSize, cfg.outerMtu - OUTER6_HEADER_LEN - ENCAP_PREFIX_LEN - hdrLen);
    const count = mss > 0 ? segmentation6().segmentTcp6(this.slab, ip, ipLen, mss, prefix, outPos, this.outEnd,
      this.layout) : 0;
    if (count === 0) {
      counters[C.drop_bad_ip]!++;
      return 0;
    }
    counters[C.tx_tso_frames]!++;
    const segSize = this.layout[0]!;
    const bytes = this.layout[1]!;
    const perSend = Math.max(1, Math.min(MAX_GSO_SEGMENTS, Math.floor(MAX_UDP6_PAYLOAD / segSize)));
    let off = outPos;
    for (let done = 0; done < count; done += perSend) {
      const n = Math.min(perSend, count - done);
      const len = Math.min(n * segSize, outPos + bytes - off);
      this.queue(fd, peers, peer, off, len, n > 1 ? segSize : 0);
      off += len;
    }
    counters[C.tx_packets]! += count;
    counters[C.tx_bytes]! += bytes - count * ENCAP_PREFIX_LEN;
    return bytes;
  }

  /** From the unreachable subnet's network address, as the IPv4 side answers (tx-queues.ts). */
  private answerNoRoute(peers: PeerTable6, ip: number, len: number, counters: Float64Array): void {
    if (this.tunCount >= ICMP_SLOTS || !mayAnswerWithIcmp6Error(this.slab, ip, len)) return;
    if (!this.icmpBudget.take(this.now())) {
      counters[C.icmp_unreachable_limited]!++;
      return;
    }
    const off = this.tunCount * ICMP_SLOT;
    peers.subnetAddressOf(this.slab, ip + 24, this.from, 0);
    writePlainVnetHdr(this.icmpSlab, off);
    const n = writeIcmp6Unreachable(this.slab, ip, len, this.from, 0, this.icmpSlab, off + VNET_HDR_LEN);
    this.tunOffsets[this.tunCount] = off;
    this.tunLengths[this.tunCount] = VNET_HDR_LEN + n;
    this.tunCount++;
    counters[C.icmp_unreachable_sent]!++;
  }

  private queue(fd: number, peers: PeerTable6, peer: number, off: number, len: number, gso: number): void {
    const n = this.sendCount;
    if (n >= this.sendFds.length) return;
    this.sendFds[n] = fd;
    this.sendOffsets[n] = off;
    this.sendLengths[n] = len;
    for (let k = 0; k < 4; k++) this.sendAddrs[4 * n + k] = peers.publicIPs[4 * peer + k]!;
    this.sendGso[n] = gso;
    this.sendCount = n + 1;
  }
}
