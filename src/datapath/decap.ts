// Receive side of the loop, without I/O: UDP datagrams (possibly UDP_GRO trains of equal-sized datagrams, or one
// 64 KiB "super-datagram" from a kernel peer on a veth underlay) are checked and decapsulated in place into TUN
// writes, each behind a virtio_net_hdr. Consecutive in-order segments of one TCP flow within a train are coalesced
// into one TSO frame (payloads moved together in place), so the kernel handles one skb instead of dozens.
import { foldSum, pseudoHeaderSeed, pseudoHeaderSum, sumWords, writeIPv4HeaderChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { INNER_FOREIGN_DESTINATION, INNER_OK, type PeerTable } from './peer-table.js';
import { tcp4HeaderLen } from './segment.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN, writeVnetHdr,
} from './virtio-hdr.js';
import {
  checkVxlanFrame, ENCAP_PREFIX_LEN, IPPROTO_TCP, IPPROTO_UDP, ipv4HeaderLen, ipv4PacketLength, isIPv4Fragment,
  readU16, readU32, writeU16,
} from './wire.js';

const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const MAX_IP_LEN = 65535;

export interface DecapConfig {
  readonly vni: number;
  readonly ownMac: Uint8Array;
  /** The TUN's MTU: a bigger inner packet can only be a super-datagram's TSO packet. */
  readonly innerMtu: number;
  /** Coalesce TCP segments into TSO frames (needs a TUN with IFF_VNET_HDR, which the loop always uses). */
  readonly coalesce: boolean;
  /**
   * Accept inner sources outside the sending peer's subnet (--vxlan-allow-foreign-source), for setups that route
   * foreign sources through the overlay on purpose. The inner destination must still be in our own subnet.
   */
  readonly allowForeignSource?: boolean;
}

/** Reusable per-thread state over one receive buffer: the TUN write queue and the TCP run being coalesced. */
export class DecapBatch {
  readonly writeOffsets: Int32Array;
  readonly writeLengths: Int32Array;
  writeCount = 0;
  // The run: a TCP packet at runIP whose payload ends at runEnd, to which following segments are appended.
  private runIP = -1;
  private runEnd = 0;
  private runHdrLen = 0;
  private runMss = 0;
  private runLastPayload = 0;
  private runNextSeq = 0;
  private runCount = 0;
  private runClosed = false;

  /** `buf` is the loop's receive slab: datagrams are decapsulated in it, and the writes point into it. */
  constructor(private readonly buf: Uint8Array, maxWrites: number) {
    this.writeOffsets = new Int32Array(maxWrites);
    this.writeLengths = new Int32Array(maxWrites);
  }

  reset(): void {
    this.writeCount = 0;
    this.runIP = -1;
  }

  /**
   * Decapsulates the datagram at buf[off, off+len) from `srcIP` (host-order uint32); `gsoSize` is the UDP_GRO
   * segment size or 0. Writes land in writeOffsets/writeLengths (bytes of `buf`); call flush() after the last
   * datagram.
   */
  datagram(cfg: DecapConfig, peers: PeerTable, off: number, len: number, srcIP: number, gsoSize: number,
    counters: Float64Array): void {
    const buf = this.buf;
    counters[C.rx_datagrams]!++;
    counters[C.rx_bytes]! += len;
    this.innerMtuHint = cfg.innerMtu;
    if (!peers.isKnownSource(srcIP)) {
      counters[C.drop_unknown_source]!++;
      return;
    }
    const end = off + len;
    let c = off;
    while (c < end) {
      let chunk = gsoSize > 0 ? Math.min(gsoSize, end - c) : end - c;
      const verdict = checkVxlanFrame(buf, c, chunk, cfg.vni, cfg.ownMac);
      if (verdict !== null) {
        counters[C[`drop_${verdict}`]]!++;
        c += chunk;
        continue;
      }
      const ip = c + ENCAP_PREFIX_LEN;
      const ipLen = ipv4PacketLength(buf, ip, end - ip);
      if (ipLen === 0) {
        counters[C.drop_bad_ip]!++;
        c += chunk;
        continue;
      }
      if (ENCAP_PREFIX_LEN + ipLen > chunk) {
        // A kernel peer's unsegmented GSO packet: the GRO size describes its inner MSS, not the datagram.
        chunk = ENCAP_PREFIX_LEN + ipLen;
      }
      this.innerPacket(cfg, peers, srcIP, ip, ipLen, counters);
      c += chunk;
    }
  }

  /**
   * One inner IPv4 packet at buf[ip, ip+ipLen) from the peer at `srcIP`, with VNET_HDR_LEN free bytes before it:
   * the anti-injection check, then delivered alone or coalesced. The udp framing's receive side calls it directly.
   */
  innerPacket(cfg: DecapConfig, peers: PeerTable, srcIP: number, ip: number, ipLen: number,
    counters: Float64Array): void {
    const buf = this.buf;
    // Anti-injection: only the sending peer's own pods may speak, and only to ours (peer-table.ts checkInner).
    const inner = peers.checkInner(srcIP, readU32(buf, ip + 12), readU32(buf, ip + 16),
      cfg.allowForeignSource === true);
    if (inner !== INNER_OK) {
      counters[inner === INNER_FOREIGN_DESTINATION ? C.drop_foreign_destination : C.drop_foreign_source]!++;
      return;
    }
    counters[C.rx_packets]!++;
    this.packet(cfg, ip, ipLen, counters);
  }

  /** Emits the pending run; call after the last datagram of a receive batch. */
  flush(counters: Float64Array): void {
    if (this.runIP < 0) return;
    const ip = this.runIP;
    this.runIP = -1;
    if (this.runCount === 1) {
      this.emitSingle(ip, this.runEnd - ip, counters);
      return;
    }
    const buf = this.buf;
    const ipHdr = ipv4HeaderLen(buf, ip);
    const total = this.runEnd - ip;
    writeU16(buf, ip + 2, total);
    writeIPv4HeaderChecksum(buf, ip, ipHdr);
    writeU16(buf, ip + ipHdr + 16, pseudoHeaderSeed(buf, ip, IPPROTO_TCP, total - ipHdr));
    writeVnetHdr(buf, ip - VNET_HDR_LEN, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, this.runHdrLen, this.runMss,
      ipHdr, 16);
    this.emit(ip - VNET_HDR_LEN, total + VNET_HDR_LEN);
    counters[C.rx_coalesced_frames]!++;
  }

  private packet(cfg: DecapConfig, ip: number, ipLen: number, counters: Float64Array): void {
    const buf = this.buf;
    const hdrLen = cfg.coalesce && ipLen <= cfg.innerMtu ? this.coalescableHeaderLen(buf, ip, ipLen, counters) : 0;
    if (hdrLen > 0 && this.runIP >= 0 && this.canAppend(buf, ip, ipLen, hdrLen)) {
      const payload = ipLen - hdrLen;
      // Read before the move: the payload may land on this packet's own headers.
      const flags = buf[ip + ipv4HeaderLen(buf, ip) + 13]!;
      buf.copyWithin(this.runEnd, ip + hdrLen, ip + ipLen);
      this.runEnd += payload;
      this.runNextSeq = (this.runNextSeq + payload) >>> 0;
      this.runLastPayload = payload;
      this.runCount++;
      if ((flags & TCP_PSH) !== 0) {
        const runTcp = this.runIP + ipv4HeaderLen(buf, this.runIP);
        buf[runTcp + 13] = buf[runTcp + 13]! | TCP_PSH;
        this.runClosed = true;
      }
      return;
    }
    this.flush(counters);
    if (hdrLen === 0) {
      this.emitSingle(ip, ipLen, counters);
      return;
    }
    const ipHdr = ipv4HeaderLen(buf, ip);
    this.runIP = ip;
    this.runEnd = ip + ipLen;
    this.runHdrLen = hdrLen;
    this.runMss = ipLen - hdrLen;
    this.runLastPayload = this.runMss;
    this.runNextSeq = (readU32(buf, ip + ipHdr + 4) + this.runMss) >>> 0;
    this.runCount = 1;
    this.runClosed = (buf[ip + ipHdr + 13]! & TCP_PSH) !== 0;
  }

  /**
   * Header length of a TCP data segment that may take part in coalescing (only ACK/PSH set, checksum right), else
   * 0. A coalesced frame goes to the kernel as CHECKSUM_PARTIAL, which it trusts, so each segment's checksum is
   * checked here, as the kernel's own GRO does; a bad one is passed on alone, for the pod's stack to drop.
   */
  private coalescableHeaderLen(buf: Uint8Array, ip: number, ipLen: number, counters: Float64Array): number {
    if (buf[ip + 9] !== IPPROTO_TCP || isIPv4Fragment(buf, ip)) return 0;
    const hdrLen = tcp4HeaderLen(buf, ip, ipLen);
    if (hdrLen === 0 || hdrLen >= ipLen) return 0;
    const ipHdr = ipv4HeaderLen(buf, ip);
    const flags = buf[ip + ipHdr + 13]!;
    if ((flags & ~(TCP_ACK | TCP_PSH)) !== 0 || (flags & TCP_ACK) === 0) return 0;
    const pseudo = pseudoHeaderSum(buf, ip, IPPROTO_TCP, ipLen - ipHdr);
    // A local sender's CHECKSUM_PARTIAL, passed on by a veth underlay, carries the pseudo-header seed instead.
    if (readU16(buf, ip + ipHdr + 16) === foldSum(pseudo)) return hdrLen;
    if (foldSum(sumWords(buf, ip + ipHdr, ipLen - ipHdr, pseudo)) === 0xffff) return hdrLen;
    counters[C.rx_bad_csum]!++;
    return 0;
  }

  private canAppend(buf: Uint8Array, ip: number, ipLen: number, hdrLen: number): boolean {
    const run = this.runIP;
    const payload = ipLen - hdrLen;
    if (this.runClosed || hdrLen !== this.runHdrLen || this.runLastPayload !== this.runMss || payload > this.runMss) {
      return false;
    }
    if (this.runEnd - run + payload > MAX_IP_LEN) return false;
    const ipHdr = ipv4HeaderLen(buf, ip);
    if (ipv4HeaderLen(buf, run) !== ipHdr) return false;
    // Same TOS, DF, TTL, protocol, addresses; IP options equal.
    if (buf[ip + 1] !== buf[run + 1] || (buf[ip + 6]! & 0x40) !== (buf[run + 6]! & 0x40) || buf[ip + 8] !== buf[run + 8]) {
      return false;
    }
    for (let i = 12; i < 20; i++) if (buf[ip + i] !== buf[run + i]) return false;
    for (let i = 20; i < ipHdr; i++) if (buf[ip + i] !== buf[run + i]) return false;
    const tcp = ip + ipHdr;
    const runTcp = run + ipHdr;
    // Ports, ack number, window and options equal; sequence number continues the run.
    for (let i = 0; i < 4; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    for (let i = 8; i < 12; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    if (readU16(buf, tcp + 14) !== readU16(buf, runTcp + 14)) return false;
    for (let i = 20; i < hdrLen - ipHdr; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    return readU32(buf, tcp + 4) === this.runNextSeq;
  }

  /** One packet as received; a CHECKSUM_PARTIAL seed or a super-packet is handed on for the kernel to finish. */
  private emitSingle(ip: number, ipLen: number, counters: Float64Array): void {
    const buf = this.buf;
    const vnet = ip - VNET_HDR_LEN;
    const proto = buf[ip + 9];
    const ipHdr = ipv4HeaderLen(buf, ip);
    const csumOffset = proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : -1;
    let flags = 0;
    if (csumOffset >= 0 && !isIPv4Fragment(buf, ip) && ipHdr + csumOffset + 2 <= ipLen) {
      const field = readU16(buf, ip + ipHdr + csumOffset);
      if (field !== 0 && field === pseudoHeaderSeed(buf, ip, proto!, ipLen - ipHdr)) {
        flags = VNET_HDR_F_NEEDS_CSUM;
        counters[C.rx_partial_csum]!++;
      }
    }
    const tcpHdrLen = proto === IPPROTO_TCP ? tcp4HeaderLen(buf, ip, ipLen) : 0;
    if (ipLen > this.innerMtuHint && tcpHdrLen > 0) {
      counters[C.rx_super_datagrams]!++;
      // A super-packet: let the kernel segment it as TSO, with the checksum completed by it too.
      writeU16(buf, ip + ipHdr + 16, pseudoHeaderSeed(buf, ip, IPPROTO_TCP, ipLen - ipHdr));
      writeVnetHdr(buf, vnet, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, tcpHdrLen,
        Math.max(1, this.innerMtuHint - tcpHdrLen), ipHdr, 16);
    } else {
      writeVnetHdr(buf, vnet, flags, VNET_HDR_GSO_NONE, 0, 0, flags ? ipHdr : 0, flags ? csumOffset : 0);
    }
    this.emit(vnet, ipLen + VNET_HDR_LEN);
  }

  /** Set by the loop from DecapConfig.innerMtu (kept here so emitSingle needs no config argument). */
  innerMtuHint = 1450;

  private emit(off: number, len: number): void {
    const n = this.writeCount;
    if (n >= this.writeOffsets.length) return;
    this.writeOffsets[n] = off;
    this.writeLengths[n] = len;
    this.writeCount = n + 1;
  }
}
