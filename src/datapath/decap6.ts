// Receive side of the IPv6 half, without I/O: VXLAN datagrams from a peer's PublicIPv6 (UDP_GRO trains included)
// are checked (VNI, our v6 VtepMAC, inner type IPv6, the anti-injection rule) and decapsulated in place into TUN
// writes behind a virtio_net_hdr. In-order TCP segments of one flow within a batch are coalesced into one TSO6 frame
// (GSO_TCPV6, CHECKSUM_PARTIAL), as decap.ts does for IPv4; only segments without IPv6 extension headers take part.
import { foldSum, sumWords } from './checksum.js';
import { COUNTER_INDEX as C } from './counters.js';
import { FRAME_DROP_COUNTER, type DecapConfig } from './decap.js';
import { VNET_HDR_GSO_TCPV6 } from './encap6.js';
import { INNER_FOREIGN_DESTINATION, INNER_OK } from './peer-table.js';
import { IPV6_HEADER_LEN, ipv6PacketLength, type PeerTable6 } from './peer-table6.js';
import { CoalescingBatch, type TcpRun } from './tcp-run.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_LEN, writeVnetHdr } from './virtio-hdr.js';
import { checkVxlanFrame, ENCAP_PREFIX_LEN, ETHERTYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP, readU16, writeU16 } from './wire.js';

const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const MAX_IP6_PAYLOAD = 65535;
const H = IPV6_HEADER_LEN;

/** The folded IPv6 pseudo-header sum (RFC 8200 §8.1) of the packet at `ip`: the CHECKSUM_PARTIAL seed. */
export function pseudoHeaderSeed6(buf: Uint8Array, ip: number, next: number, l4Len: number): number {
  return foldSum(sumWords(buf, ip + 8, 32, next + l4Len));
}

/** TCP header length of the IPv6 packet at `ip` (next header TCP, no extension headers), or 0. */
export function tcp6HeaderLen(buf: Uint8Array, ip: number, ipLen: number): number {
  if (buf[ip + 6] !== IPPROTO_TCP || ipLen < H + 20) return 0;
  const t = (buf[ip + H + 12]! >> 4) * 4;
  return t < 20 || H + t > ipLen ? 0 : t;
}

export class Decap6Batch extends CoalescingBatch {
  protected readonly maxRunLen = MAX_IP6_PAYLOAD + H;
  private innerMtu = 1450;

  /**
   * The `n` datagrams one receive left at buf[i*slotSize] (lengths[i] bytes, −1: truncated; outer source i at
   * sources[4i, 4i+4), GRO size beside), decapsulated into this batch's TUN writes.
   */
  receive(cfg: DecapConfig, peers: PeerTable6, n: number, lengths: Int32Array, sources: Uint32Array,
    gsoSizes: Int32Array, slotSize: number, counters: Float64Array): void {
    this.reset();
    for (let i = 0; i < n; i++) {
      if (lengths[i]! < 0) counters[C.drop_truncated]!++;
      else this.datagram(cfg, peers, i * slotSize, lengths[i]!, sources, 4 * i, gsoSizes[i]!, counters);
    }
    this.flush(counters);
  }

  /** The datagram at buf[off, off+len) from the PublicIPv6 at srcs[at, at+4); gsoSize: its UDP_GRO size or 0. */
  datagram(cfg: DecapConfig, peers: PeerTable6, off: number, len: number, srcs: Uint32Array, at: number,
    gsoSize: number, counters: Float64Array): void {
    const buf = this.buf;
    counters[C.rx_datagrams]!++;
    counters[C.rx_bytes]! += len;
    this.innerMtu = cfg.innerMtu;
    if (!peers.isKnownSource(srcs, at)) {
      counters[C.drop_unknown_source]!++;
      return;
    }
    const end = off + len;
    for (let c = off; c < end;) {
      let chunk = gsoSize > 0 ? Math.min(gsoSize, end - c) : end - c;
      const verdict = checkVxlanFrame(buf, c, chunk, cfg.vni, cfg.ownMac, ETHERTYPE_IPV6);
      const ip = c + ENCAP_PREFIX_LEN;
      const ipLen = verdict === null ? ipv6PacketLength(buf, ip, end - ip) : 0;
      if (verdict !== null || ipLen === 0) {
        counters[verdict === null ? C.drop_bad_ip : FRAME_DROP_COUNTER[verdict]]!++;
        c += chunk;
        continue;
      }
      // A kernel peer's unsegmented GSO packet: the GRO size describes its inner MSS, not the datagram.
      if (ENCAP_PREFIX_LEN + ipLen > chunk) chunk = ENCAP_PREFIX_LEN + ipLen;
      const inner = peers.checkInner(srcs, at, buf, ip, cfg.allowForeignSource === true);
      if (inner !== INNER_OK) {
        counters[inner === INNER_FOREIGN_DESTINATION ? C.drop_foreign_destination : C.drop_foreign_source]!++;
      } else {
        counters[C.rx_packets]!++;
        this.deliver(ip, ipLen, cfg.coalesce && ipLen <= cfg.innerMtu, counters);
      }
      c += chunk;
    }
  }

  protected emitRun(run: TcpRun, ip: number): void {
    const buf = this.buf;
    const l4Len = run.end - ip - H;
    writeU16(buf, ip + 4, l4Len);
    writeU16(buf, ip + H + 16, pseudoHeaderSeed6(buf, ip, IPPROTO_TCP, l4Len));
    writeVnetHdr(buf, ip - VNET_HDR_LEN, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, run.hdrLen, run.mss, H, 16);
    this.emit(ip - VNET_HDR_LEN, H + l4Len + VNET_HDR_LEN);
  }

  protected ipHeaderLen(): number {
    return H;
  }

  /** IPv6 + TCP header length of a data segment that may be coalesced (ACK, maybe PSH, checksum right), else 0. */
  protected coalescableHeaderLen(ip: number, ipLen: number, counters: Float64Array): number {
    const buf = this.buf;
    const tcpLen = tcp6HeaderLen(buf, ip, ipLen);
    if (tcpLen === 0 || H + tcpLen >= ipLen) return 0;
    const flags = buf[ip + H + 13]!;
    if ((flags & ~(TCP_ACK | TCP_PSH)) !== 0 || (flags & TCP_ACK) === 0) return 0;
    const l4Len = ipLen - H;
    const pseudo = sumWords(buf, ip + 8, 32, IPPROTO_TCP + l4Len);
    if (readU16(buf, ip + H + 16) === foldSum(pseudo)) return H + tcpLen;
    if (foldSum(sumWords(buf, ip + H, l4Len, pseudo)) === 0xffff) return H + tcpLen;
    counters[C.rx_bad_csum]!++;
    return 0;
  }

  /** Version, traffic class, flow label, hop limit and both addresses equal. */
  protected sameIpHeader(ip: number, run: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < 4; i++) if (buf[ip + i] !== buf[run + i]) return false;
    for (let i = 7; i < H; i++) if (buf[ip + i] !== buf[run + i]) return false;
    return true;
  }

  /** One packet as received; a CHECKSUM_PARTIAL seed or a super-packet is handed on for the kernel to finish. */
  protected emitSingle(ip: number, ipLen: number, counters: Float64Array): void {
    const buf = this.buf;
    const vnet = ip - VNET_HDR_LEN;
    const next = buf[ip + 6]!;
    const l4Len = ipLen - H;
    const csumOffset = next === IPPROTO_TCP ? 16 : next === IPPROTO_UDP ? 6 : -1;
    let flags = 0;
    if (csumOffset >= 0 && csumOffset + 2 <= l4Len) {
      const field = readU16(buf, ip + H + csumOffset);
      if (field !== 0 && field === pseudoHeaderSeed6(buf, ip, next, l4Len)) {
        flags = VNET_HDR_F_NEEDS_CSUM;
        counters[C.rx_partial_csum]!++;
      }
    }
    const tcpLen = tcp6HeaderLen(buf, ip, ipLen);
    if (ipLen > this.innerMtu && tcpLen > 0) {
      counters[C.rx_super_datagrams]!++;
      writeU16(buf, ip + H + 16, pseudoHeaderSeed6(buf, ip, IPPROTO_TCP, l4Len));
      writeVnetHdr(buf, vnet, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, H + tcpLen,
        Math.max(1, this.innerMtu - H - tcpLen), H, 16);
    } else {
      writeVnetHdr(buf, vnet, flags, VNET_HDR_GSO_NONE, 0, 0, flags ? H : 0, flags ? csumOffset : 0);
    }
    this.emit(vnet, ipLen + VNET_HDR_LEN);
  }
}
