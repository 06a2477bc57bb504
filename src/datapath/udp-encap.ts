// Transmit side of the udp framing, without I/O: packets read from the TUN (each behind a virtio_net_hdr) become
// datagrams of one bare IPv4 packet each, queued for one batched send to the owning peer's PublicIP. The TTL is
// lowered as upstream's proxy does. A TSO super-packet is cut by the shared segmenter (which leaves VXLAN-sized room
// in front of each segment, removed here) so that one UDP_SEGMENT send carries up to 64 packets: the receiver, an
// upstream node included, gets ordinary one-packet datagrams from the kernel.
import { completePartialChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { ICMP_UNREACHABLE_BURST, ICMP_UNREACHABLE_PER_SECOND, TUN_READ_HEADROOM } from './encap.js';
import { innerFlowHash } from './flow-hash.js';
import { ICMP_NET_UNREACH, MAX_ICMP_REPLY_LEN, mayAnswerWithIcmpError, writeIcmpUnreachable } from './icmp.js';
import type { PeerTable } from './peer-table.js';
import { emptySegmentResult, segmentTcp4 } from './segment.js';
import { TokenBucket } from './token-bucket.js';
import { decrementTtl, packSegments } from './udp-framing.js';
import {
  emptyVnetHdr, readVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4,
  VNET_HDR_LEN, writePlainVnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, IPPROTO_UDP, ipv4PacketLength, readU32 } from './wire.js';

/** Where the IPv4 packet of read slot i starts: the TUN read puts it there (the vxlan loop's slot layout). */
const PACKET_OFFSET = TUN_READ_HEADROOM + VNET_HDR_LEN;
/** The segmenter's per-segment room: it writes a copy of ENCAP_PREFIX_LEN bytes in front of each segment. */
const SEGMENTER_PREFIX = ENCAP_PREFIX_LEN;
const MAX_GSO_SEGMENTS = 64;
const MAX_UDP_PAYLOAD = 65535 - 20 - 8;

/** Reusable per-thread state of the udp transmit side; the queues are read by the loop's sendBatch / writeBatch. */
export class UdpEncapBatch {
  readonly sendFds: Int32Array;
  readonly sendOffsets: Int32Array;
  readonly sendLengths: Int32Array;
  readonly sendAddrs: Uint32Array;
  readonly sendGso: Int32Array;
  sendCount = 0;
  readonly tunOffsets: Int32Array;
  readonly tunLengths: Int32Array;
  tunCount = 0;
  private readonly vnet = emptyVnetHdr();
  private readonly seg = emptySegmentResult();
  private readonly icmpBudget = new TokenBucket(ICMP_UNREACHABLE_PER_SECOND, ICMP_UNREACHABLE_BURST);
  /** The clock of the ICMP budget; replaceable by tests. */
  now: () => number = () => performance.now();

  /** The slab's layout is encapSlabLayout's (encap.ts): read slots, the segment output area, ICMP reply slots. */
  constructor(readonly slab: Uint8Array, readonly slotSize: number, readonly outStart: number,
    readonly outEnd: number, readonly icmpStart: number, readonly icmpSlots: number, maxMessages: number) {
    this.sendFds = new Int32Array(maxMessages);
    this.sendOffsets = new Int32Array(maxMessages);
    this.sendLengths = new Int32Array(maxMessages);
    this.sendAddrs = new Uint32Array(maxMessages);
    this.sendGso = new Int32Array(maxMessages);
    this.tunOffsets = new Int32Array(icmpSlots);
    this.tunLengths = new Int32Array(icmpSlots);
  }

  /** Processes `count` reads (slot i at i*slotSize, lengths[i] bytes from TUN_READ_HEADROOM on). */
  frame(sendFds: Int32Array, peers: PeerTable, lengths: Int32Array, count: number, counters: Float64Array): void {
    this.sendCount = 0;
    this.tunCount = 0;
    let outPos = this.outStart;
    const slab = this.slab;
    for (let i = 0; i < count; i++) {
      const slot = i * this.slotSize;
      const ip = slot + PACKET_OFFSET;
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
        this.answerUnreachable(peers.subnetAddressOf(dst), ip, ipLen, counters);
        continue;
      }
      if (!decrementTtl(slab, ip)) {
        counters[C.drop_ttl_expired]!++;
        continue;
      }
      const vnet = readVnetHdr(slab, slot + TUN_READ_HEADROOM, this.vnet);
      const fd = sendFds[innerFlowHash(slab, ip, ipLen) % sendFds.length]!;
      const publicIP = peers.publicIPs[peer]!;
      const gsoType = vnet.gsoType & ~VNET_HDR_GSO_ECN;
      if (gsoType === VNET_HDR_GSO_TCPV4 && vnet.gsoSize > 0) {
        if (outPos + ipLen + Math.ceil(ipLen / vnet.gsoSize) * (SEGMENTER_PREFIX + 120) > this.outEnd) {
          counters[C.tx_send_failed]!++;
          continue;
        }
        if (!segmentTcp4(slab, ip, ipLen, vnet.gsoSize, slot, outPos, this.outEnd, this.seg)) {
          counters[C.drop_bad_ip]!++;
          continue;
        }
        const seg = this.seg;
        const bytes = packSegments(slab, outPos, seg.count, seg.segmentSize, seg.bytes, SEGMENTER_PREFIX);
        counters[C.tx_tso_frames]!++;
        this.queueSegments(fd, publicIP, outPos, seg.count, seg.segmentSize - SEGMENTER_PREFIX, bytes, counters);
        outPos += bytes;
        continue;
      }
      if (gsoType !== VNET_HDR_GSO_NONE) {
        counters[C.drop_bad_ip]!++;
        continue;
      }
      if ((vnet.flags & VNET_HDR_F_NEEDS_CSUM) !== 0 && vnet.csumStart + vnet.csumOffset + 2 <= ipLen) {
        completePartialChecksum(slab, ip + vnet.csumStart, vnet.csumOffset, ip + ipLen, slab[ip + 9] === IPPROTO_UDP);
      }
      this.queue(fd, publicIP, ip, ipLen, 0);
      counters[C.tx_packets]!++;
      counters[C.tx_bytes]! += ipLen;
    }
  }

  /** Equal-sized packets back to back: UDP_SEGMENT sends of at most 64 packets and one IPv4 datagram's payload. */
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
    counters[C.tx_bytes]! += bytes;
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

  /** As upstream: ICMP net unreachable into the TUN; from the unreachable subnet's address (see encap.ts). */
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
