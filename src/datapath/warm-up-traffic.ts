// Synthetic traffic for the JIT warm-up (warm-up.ts): the packets a loop thread meets in real use, written into its
// buffers as a TUN read or a received datagram would leave them. What matters to V8 is that every branch and every
// value range of real traffic is seen before the loop starts: TCP sequence numbers above 2^31 (a field that only
// ever held small integers is re-laid-out when a large one arrives, and all code built on the old layout is thrown
// away), TSO super-packets, GRO trains, kernel peers' super-datagrams, payloads long enough for the native checksum.
// The same conversation in IPv6 (40-byte header, ICMPv6, TSO6) feeds the IPv6 half's warm-up (warm-up6.ts).
import { completePartialChecksum, pseudoHeaderSeed, writeIPv4HeaderChecksum } from './checksum.js';
import { pseudoHeaderSeed6 } from './decap6.js';
import { TUN_READ_HEADROOM } from './encap.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_TCPV6, VNET_HDR_LEN, writeVnetHdr,
} from './virtio-hdr.js';
import {
  ENCAP_PREFIX_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, writeEncapPrefix, writeU16,
  writeU32,
} from './wire.js';

const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const IP_HDR = 20;
const IP6_HDR = 40;
const IPPROTO_ICMPV6 = 58;
/** Linux sends the timestamp option (NOP, NOP, TS: 12 bytes) on every segment of a flow that negotiated it. */
const TCP_HDR_TIMESTAMPS = 32;
const TCP_HDR_BARE = 20;

/**
 * One kind of packet. `segments` > 1: on the TUN side a TSO super-packet of that many MSS-sized segments, on the
 * UDP side a GRO train of that many datagrams of one segment each. `superDatagram`: a kernel peer's unsegmented
 * GSO packet, bigger than the inner MTU, in one datagram.
 */
export interface TrafficShape {
  readonly proto: number;
  /** Payload bytes after the L4 header (ICMP: after the 8-byte echo header), per segment; -1: a full MSS. */
  readonly payload: number;
  /** The TUN hands the packet with its L4 checksum left to us (virtio NEEDS_CSUM), as for local TCP and UDP. */
  readonly partial: boolean;
  readonly segments: number;
  readonly superDatagram: boolean;
}

/**
 * Lone packets first (ping, pure ACK, small and full TCP data, UDP), then the bulk shapes. Local TCP and UDP leave
 * a pod with CHECKSUM_PARTIAL.
 */
export const TRAFFIC_SHAPES: readonly TrafficShape[] = [
  { proto: IPPROTO_ICMP, payload: 56, partial: false, segments: 1, superDatagram: false },
  { proto: IPPROTO_TCP, payload: 0, partial: true, segments: 1, superDatagram: false },
  { proto: IPPROTO_TCP, payload: 100, partial: true, segments: 1, superDatagram: false },
  { proto: IPPROTO_UDP, payload: 40, partial: true, segments: 1, superDatagram: false },
  { proto: IPPROTO_TCP, payload: -1, partial: true, segments: 1, superDatagram: false },
  { proto: IPPROTO_TCP, payload: -1, partial: true, segments: 8, superDatagram: false },
  { proto: IPPROTO_TCP, payload: -1, partial: true, segments: 12, superDatagram: true },
];

/** Bytes a buffer needs for the biggest shape at a given inner MTU (TUN side and UDP side alike). */
export function trafficBufferSize(innerMtu: number): number {
  return 16 * (ENCAP_PREFIX_LEN + innerMtu) + 64;
}

/** The IPv6 conversation's addresses, 16 bytes each: `src` behind us, `dst` behind the peer, `unrouted` no peer's. */
export interface Ends6 {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly unrouted: Uint8Array;
}

/**
 * Writes the packets of a two-pod conversation: `src` (behind us) ↔ `dst` (behind the peer); with `v6`, in IPv6
 * between its addresses (`src` and `dst` are then unused).
 */
export class SyntheticTraffic {
  /**
   * Sequence and ack numbers jump across the whole 32-bit range between conversations (a real host has flows at
   * every offset, and a run of small values would teach V8 that they fit in 31 bits), and advance by the payload
   * within one, so a TSO frame or GRO train is in order and sometimes wraps.
   */
  private seq = 0xfffff000;
  private ack = 0x9abcdef0;
  private ipId = 0;
  /** Varies the payload length by 0..3 bytes, so odd lengths (a checksum's trailing byte) occur too. */
  private jitter = 0;
  /** Per conversation: with timestamps, or (one in four) without options. */
  private tcpHdr = TCP_HDR_TIMESTAMPS;

  private readonly ipHdr: number;

  constructor(private readonly src: number, private readonly dst: number, private readonly innerMtu: number,
    private readonly v6: Ends6 | null = null) {
    this.ipHdr = v6 === null ? IP_HDR : IP6_HDR;
  }

  /** The MSS that fills the inner MTU. */
  get mss(): number {
    return this.innerMtu - this.ipHdr - this.tcpHdr;
  }

  /**
   * A TUN read of `shape` from `from` to `to` into buf[slot…]: virtio header at slot + TUN_READ_HEADROOM, packet
   * after it. Returns the read's length. `to`: the destination, or for IPv6 whether it is the peer's pod (else an
   * address no peer owns). A `version` other than the conversation's makes it a packet the encap path drops.
   */
  tunRead(buf: Uint8Array, slot: number, shape: TrafficShape, to = this.dst, version = this.v6 === null ? 4 : 6): number {
    this.nextConversation();
    const ip = slot + TUN_READ_HEADROOM + VNET_HDR_LEN;
    const h = this.ipHdr;
    // A TSO frame's last segment is short, as a real one's usually is.
    const payload = shape.segments > 1 ? this.mss * (shape.segments - 1) + 700 + this.jitter : this.payloadOf(shape);
    const ipLen = this.packet(buf, ip, shape.proto, payload, this.src, to, shape.segments === 1, false);
    if (version !== (this.v6 === null ? 4 : 6)) buf[ip] = version === 6 ? 0x60 : 0x45;
    const vnet = slot + TUN_READ_HEADROOM;
    const csumOffset = shape.proto === IPPROTO_TCP ? 16 : 6;
    if (shape.segments > 1) {
      writeU16(buf, ip + h + 16, this.seed(buf, ip, IPPROTO_TCP, ipLen - h));
      writeVnetHdr(buf, vnet, VNET_HDR_F_NEEDS_CSUM, this.v6 === null ? VNET_HDR_GSO_TCPV4 : VNET_HDR_GSO_TCPV6,
        h + this.tcpHdr, this.mss, h, 16);
    } else if (shape.partial) {
      writeU16(buf, ip + h + csumOffset, this.seed(buf, ip, shape.proto, ipLen - h));
      writeVnetHdr(buf, vnet, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, 0, 0, h, csumOffset);
    } else {
      writeVnetHdr(buf, vnet, 0, VNET_HDR_GSO_NONE, 0, 0, 0, 0);
    }
    return VNET_HDR_LEN + ipLen;
  }

  /**
   * What recvmmsg hands over for `shape` from the peer, at buf[off…]: one datagram, a GRO train (datagrams of one
   * segment each, gsoSize = their size) or a super-datagram. Its length and UDP_GRO size land in `out`.
   */
  datagram(buf: Uint8Array, off: number, shape: TrafficShape, vni: number, ownMac: Uint8Array,
    out: { length: number; gsoSize: number }): void {
    this.nextConversation();
    const trains = shape.segments > 1 && !shape.superDatagram;
    const perPacket = shape.superDatagram ? this.payloadOf(shape) * shape.segments : this.payloadOf(shape);
    let c = off;
    for (let i = 0; i < (trains ? shape.segments : 1); i++) {
      writeEncapPrefix(buf, c, vni, ownMac, 0, ownMac, this.v6 === null ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
      const ip = c + ENCAP_PREFIX_LEN;
      const last = !trains || i === shape.segments - 1;
      const ipLen = this.packet(buf, ip, shape.proto, perPacket, this.dst, this.src, last, true);
      if (shape.proto !== IPPROTO_ICMP) this.wireChecksum(buf, ip, ipLen, shape, trains && i === 1);
      c += ENCAP_PREFIX_LEN + ipLen;
    }
    out.length = c - off;
    out.gsoSize = trains ? ENCAP_PREFIX_LEN + this.ipHdr + this.tcpHdr + perPacket : 0;
  }

  /**
   * The L4 checksum as it arrives: the pseudo-header seed where a veth underlay passes a local sender's
   * CHECKSUM_PARTIAL on (a kernel peer's super-datagram, and every other lone packet), else complete, as a remote
   * sender computed it. `mayCorrupt`: one GRO train in four has a segment whose checksum a flipped bit broke.
   */
  private wireChecksum(buf: Uint8Array, ip: number, ipLen: number, shape: TrafficShape, mayCorrupt: boolean): void {
    const h = this.ipHdr;
    const field = ip + h + (shape.proto === IPPROTO_TCP ? 16 : 6);
    writeU16(buf, field, this.seed(buf, ip, shape.proto, ipLen - h));
    const seedOnly = shape.superDatagram || (shape.partial && shape.segments === 1 && (this.jitter & 1) === 0);
    if (seedOnly) return;
    completePartialChecksum(buf, ip + h, field - ip - h, ip + ipLen, shape.proto === IPPROTO_UDP);
    if (mayCorrupt && this.jitter === 3) buf[field + 1] = buf[field + 1]! ^ 0x10;
  }

  private nextConversation(): void {
    this.seq = (Math.imul(this.seq, 0x9e3779b1) + 0x7f4a7c15) >>> 0;
    this.ack = (Math.imul(this.ack, 0x85ebca6b) + 0x165667b1) >>> 0;
    this.jitter = (this.jitter + 1) & 3;
    this.tcpHdr = this.jitter === 0 ? TCP_HDR_BARE : TCP_HDR_TIMESTAMPS;
  }

  /** Full-sized segments stay at the MSS (a GRO train needs equal sizes); small payloads vary by `jitter`. */
  private payloadOf(shape: TrafficShape): number {
    return shape.payload >= 0 ? shape.payload + (shape.payload > 0 ? this.jitter : 0) : this.mss;
  }

  /** The L4 checksum's pseudo-header seed in the conversation's family. */
  private seed(buf: Uint8Array, ip: number, proto: number, l4Len: number): number {
    return this.v6 === null ? pseudoHeaderSeed(buf, ip, proto, l4Len) : pseudoHeaderSeed6(buf, ip, proto, l4Len);
  }

  /**
   * An IPv4 packet (IPv6 with `v6`) with `payload` bytes after its L4 header; returns its length. `inbound`: from
   * the peer's pod to ours (IPv6: `to` is ignored), else from ours to `to` (IPv6: the peer's pod when it is `dst`).
   */
  private packet(buf: Uint8Array, ip: number, proto: number, payload: number, from: number, to: number,
    push: boolean, inbound: boolean): number {
    const l4Hdr = proto === IPPROTO_TCP ? this.tcpHdr : 8;
    const h = this.ipHdr;
    const total = h + l4Hdr + payload;
    buf.fill(0, ip, ip + h + l4Hdr);
    if (this.v6 === null) {
      buf[ip] = 0x45;
      writeU16(buf, ip + 2, total);
      writeU16(buf, ip + 4, this.ipId);
      this.ipId = (this.ipId + 1) & 0xffff;
      buf[ip + 6] = 0x40; // DF
      buf[ip + 8] = 64;
      buf[ip + 9] = proto;
      writeU32(buf, ip + 12, from);
      writeU32(buf, ip + 16, to);
      writeIPv4HeaderChecksum(buf, ip, IP_HDR);
    } else {
      const e = this.v6;
      buf[ip] = 0x60;
      writeU16(buf, ip + 4, total - h);
      buf[ip + 6] = proto === IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto;
      buf[ip + 7] = 64;
      buf.set(inbound ? e.dst : e.src, ip + 8);
      buf.set(inbound ? e.src : to === this.dst ? e.dst : e.unrouted, ip + 24);
    }
    const l4 = ip + h;
    if (proto === IPPROTO_ICMP) buf[l4] = this.v6 === null ? 8 : 128; // echo request
    if (proto === IPPROTO_UDP) {
      writeU16(buf, l4, 40000);
      writeU16(buf, l4 + 2, 53);
      writeU16(buf, l4 + 4, l4Hdr + payload);
    }
    if (proto === IPPROTO_TCP) {
      writeU16(buf, l4, 40000);
      writeU16(buf, l4 + 2, 5201);
      writeU32(buf, l4 + 4, this.seq);
      writeU32(buf, l4 + 8, this.ack);
      buf[l4 + 12] = (l4Hdr / 4) << 4;
      buf[l4 + 13] = payload > 0 && push ? TCP_ACK | TCP_PSH : TCP_ACK;
      writeU16(buf, l4 + 14, 502);
      if (l4Hdr === TCP_HDR_TIMESTAMPS) {
        buf[l4 + 20] = 1; // NOP
        buf[l4 + 21] = 1;
        buf[l4 + 22] = 8; // timestamps, length 10
        buf[l4 + 23] = 10;
        writeU32(buf, l4 + 24, this.ack ^ 0x5a5a5a5a);
        writeU32(buf, l4 + 28, this.seq ^ 0xa5a5a5a5);
      }
      this.seq = (this.seq + payload) >>> 0;
    }
    return total;
  }
}
