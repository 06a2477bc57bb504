// What both transmit framings (vxlan's EncapBatch, udp's UdpEncapBatch) do the same way around their own framing:
// the send and TUN queues the loop hands to sendBatch / writeBatch, the route lookup with its rate-limited ICMP
// net-unreachable answer, the TSO segmenting step and the UDP_SEGMENT send bookkeeping. A base class rather than a
// helper object keeps the queues where the loops already read them and costs no extra indirection per packet.
import { completePartialChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { ICMP_NET_UNREACH, MAX_ICMP_REPLY_LEN, mayAnswerWithIcmpError, writeIcmpUnreachable } from './icmp.js';
import type { PeerTable } from './peer-table.js';
import { emptySegmentResult, segmentTcp4 } from './segment.js';
import { TokenBucket } from './token-bucket.js';
import {
  emptyVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN,
  writePlainVnetHdr, type VnetHdr,
} from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, IPPROTO_UDP, readI32 } from './wire.js';

/** ICMP unreachable replies per second (and burst), so a flood to an unknown subnet costs reads, not replies. */
export const ICMP_UNREACHABLE_PER_SECOND = 100;
export const ICMP_UNREACHABLE_BURST = 50;
/** The kernel's cap on one UDP_SEGMENT send: 64 segments, and an IPv4 datagram ≤ 65535 bytes. */
const MAX_GSO_SEGMENTS = 64;
const MAX_UDP_PAYLOAD = 65535 - 20 - 8;

/** True for a virtio header announcing a TCPv4 TSO super-packet (ECN bit aside). */
export function isTcp4Tso(vnet: VnetHdr): boolean {
  return vnet.gsoSize > 0 && (vnet.gsoType & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_TCPV4;
}

/** True for a virtio header of one plain packet (no GSO, ECN bit aside). */
export function isPlainPacket(vnet: VnetHdr): boolean {
  return (vnet.gsoType & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_NONE;
}

/** Reusable per-thread queues of one transmit side; the slab layout is encapSlabLayout's (encap.ts). */
export class TxQueues {
  readonly sendFds: Int32Array;
  readonly sendOffsets: Int32Array;
  readonly sendLengths: Int32Array;
  readonly sendAddrs: Uint32Array;
  readonly sendGso: Int32Array;
  sendCount = 0;
  readonly tunOffsets: Int32Array;
  readonly tunLengths: Int32Array;
  tunCount = 0;
  protected readonly vnet = emptyVnetHdr();
  protected readonly seg = emptySegmentResult();
  private readonly icmpBudget = new TokenBucket(ICMP_UNREACHABLE_PER_SECOND, ICMP_UNREACHABLE_BURST);
  /** The clock of the ICMP budget; replaceable by tests. */
  now: () => number = () => performance.now();

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

  /**
   * The peer owning the destination of the IPv4 packet at `ip` (`ipLen` bytes, 0 when not IPv4), or −1 once the
   * drop is counted and, for an unknown subnet, answered (quoting up to `len` bytes).
   */
  protected peerOf(peers: PeerTable, ip: number, ipLen: number, len: number, counters: Float64Array): number {
    if (ipLen === 0) {
      counters[C.drop_not_ipv4]!++;
      return -1;
    }
    const dst = readI32(this.slab, ip + 16);
    const peer = peers.lookup(dst);
    if (peer < 0) {
      counters[C.drop_no_route]!++;
      this.answerUnreachable(peers.subnetAddressOf(dst), ip, len, counters);
    }
    return peer;
  }

  /**
   * Cuts a TSO super-packet into this.seg at `outPos` (each segment behind a copy of the ENCAP_PREFIX_LEN bytes at
   * `prefix`); false once the drop is counted.
   */
  protected segment(ip: number, ipLen: number, gsoSize: number, prefix: number, outPos: number,
    counters: Float64Array): boolean {
    if (outPos + ipLen + Math.ceil(ipLen / gsoSize) * (ENCAP_PREFIX_LEN + 120) > this.outEnd) {
      // Only a batch of frames with a tiny MSS can overflow the area (sized for 64 KiB frames of MSS ≥ 256).
      counters[C.tx_send_failed]!++;
      return false;
    }
    if (!segmentTcp4(this.slab, ip, ipLen, gsoSize, prefix, outPos, this.outEnd, this.seg)) {
      counters[C.drop_bad_ip]!++;
      return false;
    }
    counters[C.tx_tso_frames]!++;
    return true;
  }

  /** The checksum the kernel left partial (CHECKSUM_PARTIAL) for the device to finish; we are that device. */
  protected completeChecksum(vnet: VnetHdr, ip: number, ipLen: number): void {
    if ((vnet.flags & VNET_HDR_F_NEEDS_CSUM) !== 0 && vnet.csumStart + vnet.csumOffset + 2 <= ipLen) {
      completePartialChecksum(this.slab, ip + vnet.csumStart, vnet.csumOffset, ip + ipLen,
        this.slab[ip + 9] === IPPROTO_UDP);
    }
  }

  /**
   * Equal-sized datagrams back to back from `start`: UDP_SEGMENT sends of at most 64 segments and one IPv4
   * datagram's payload; `payload` is what the counters call sent bytes.
   */
  protected queueSegments(fd: number, publicIP: number, start: number, count: number, segSize: number, bytes: number,
    payload: number, counters: Float64Array): void {
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
    counters[C.tx_bytes]! += payload;
  }

  protected queue(fd: number, publicIP: number, off: number, len: number, gso: number): void {
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
