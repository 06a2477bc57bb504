// Receive side of the loop, without I/O: UDP datagrams (possibly UDP_GRO trains of equal-sized datagrams, or one
// 64 KiB "super-datagram" from a kernel peer on a veth underlay) are checked and decapsulated in place into TUN
// writes, each behind a virtio_net_hdr. Consecutive in-order segments of one TCP flow within a train are coalesced
// into one TSO frame (payloads moved together in place), so the kernel handles one skb instead of dozens.
import { foldSum, pseudoHeaderSeed, pseudoHeaderSum, sumWords, writeIPv4HeaderChecksum } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { INNER_FOREIGN_DESTINATION, INNER_OK, type PeerTable } from './peer-table.js';
import { tcp4HeaderLen } from './segment.js';
import { CoalescingBatch, type TcpRun } from './tcp-run.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN, writeVnetHdr,
} from './virtio-hdr.js';
import {
  checkVxlanFrame, ENCAP_PREFIX_LEN, type FrameVerdict, IPPROTO_TCP, IPPROTO_UDP, ipv4HeaderLen, ipv4PacketLength,
  isIPv4Fragment, readI32, readU16, writeU16,
} from './wire.js';

/** The counter of each frame verdict: a constant lookup, where `drop_${verdict}` would build a string per frame. */
export const FRAME_DROP_COUNTER: Readonly<Record<Exclude<FrameVerdict, null>, number>> = {
  too_short: C.drop_too_short, bad_flags: C.drop_bad_flags, bad_vni: C.drop_bad_vni, not_our_mac: C.drop_not_our_mac,
  not_ipv4: C.drop_not_ipv4,
};

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

/** Reusable per-thread state over one receive buffer: the TUN write queue and the TCP run (tcp-run.ts), for IPv4. */
export class DecapBatch extends CoalescingBatch {
  protected readonly maxRunLen = MAX_IP_LEN;

  /**
   * The `n` datagrams one receive left at buf[i*slotSize] (lengths[i] bytes, −1: truncated; outer source and GRO
   * size beside), decapsulated into this batch's TUN writes.
   */
  receive(cfg: DecapConfig, peers: PeerTable, n: number, lengths: Int32Array, sources: Uint32Array,
    gsoSizes: Int32Array, slotSize: number, counters: Float64Array): void {
    this.reset();
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      if (len < 0) {
        counters[C.drop_truncated]!++;
        continue;
      }
      // The outer source as an int32 (the same bits): it is passed on through several calls (see wire.ts readI32).
      this.datagram(cfg, peers, i * slotSize, len, sources[i]! | 0, gsoSizes[i]!, counters);
    }
    this.flush(counters);
  }

  /**
   * Decapsulates the datagram at buf[off, off+len) from `srcIP` (host order, int32 or uint32); `gsoSize` is the
   * UDP_GRO segment size or 0. Writes land in writeOffsets/writeLengths (bytes of `buf`); call flush() after the
   * last datagram.
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
        counters[FRAME_DROP_COUNTER[verdict]]!++;
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
    const inner = peers.checkInner(srcIP, readI32(buf, ip + 12), readI32(buf, ip + 16),
      cfg.allowForeignSource === true);
    if (inner !== INNER_OK) {
      counters[inner === INNER_FOREIGN_DESTINATION ? C.drop_foreign_destination : C.drop_foreign_source]!++;
      return;
    }
    counters[C.rx_packets]!++;
    this.deliver(ip, ipLen, cfg.coalesce && ipLen <= cfg.innerMtu, counters);
  }

  protected emitRun(run: TcpRun, ip: number): void {
    const buf = this.buf;
    const ipHdr = ipv4HeaderLen(buf, ip);
    const total = run.end - ip;
    writeU16(buf, ip + 2, total);
    writeIPv4HeaderChecksum(buf, ip, ipHdr);
    writeU16(buf, ip + ipHdr + 16, pseudoHeaderSeed(buf, ip, IPPROTO_TCP, total - ipHdr));
    writeVnetHdr(buf, ip - VNET_HDR_LEN, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, run.hdrLen, run.mss,
      ipHdr, 16);
    this.emit(ip - VNET_HDR_LEN, total + VNET_HDR_LEN);
  }

  protected ipHeaderLen(ip: number): number {
    return ipv4HeaderLen(this.buf, ip);
  }

  /**
   * Header length of a TCP data segment that may take part in coalescing (only ACK/PSH set, checksum right), else
   * 0. A coalesced frame goes to the kernel as CHECKSUM_PARTIAL, which it trusts, so each segment's checksum is
   * checked here, as the kernel's own GRO does; a bad one is passed on alone, for the pod's stack to drop.
   */
  protected coalescableHeaderLen(ip: number, ipLen: number, counters: Float64Array): number {
    const buf = this.buf;
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

  /** Same header length, TOS, DF, TTL, protocol, addresses and IP options. */
  protected sameIpHeader(ip: number, run: number): boolean {
    const buf = this.buf;
    const ipHdr = ipv4HeaderLen(buf, ip);
    if (ipv4HeaderLen(buf, run) !== ipHdr) return false;
    if (buf[ip + 1] !== buf[run + 1] || (buf[ip + 6]! & 0x40) !== (buf[run + 6]! & 0x40) || buf[ip + 8] !== buf[run + 8]) {
      return false;
    }
    for (let i = 12; i < 20; i++) if (buf[ip + i] !== buf[run + i]) return false;
    for (let i = 20; i < ipHdr; i++) if (buf[ip + i] !== buf[run + i]) return false;
    return true;
  }

  /** One packet as received; a CHECKSUM_PARTIAL seed or a super-packet is handed on for the kernel to finish. */
  protected emitSingle(ip: number, ipLen: number, counters: Float64Array): void {
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
}
