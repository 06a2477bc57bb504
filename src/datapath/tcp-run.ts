// Receive coalescing, the same for both families (decap.ts for IPv4, decap6.ts for IPv6): the run, a TCP packet in
// the receive buffer to which the payloads of following in-order segments of its flow are appended in place, and
// the TUN write queue around it. A family's batch says which segments may coalesce, whether two IP headers match,
// and how a coalesced frame and a single packet are written out.
import { COUNTER_INDEX as C } from './counters.js';
import { readI32, readU16 } from './wire.js';

const TCP_PSH = 0x08;

export class TcpRun {
  /** Offset of the run's IP header in the buffer; -1: no run. */
  ip = -1;
  /** Where its payload ends. */
  end = 0;
  /** IP + TCP header bytes, and where the TCP header starts (from ip). */
  hdrLen = 0;
  tcpOff = 0;
  /** The first segment's payload: the MSS of the coalesced frame. */
  mss = 0;
  count = 0;
  private lastPayload = 0;
  private nextSeq = 0;
  /** A PSH ended it: nothing joins after. */
  private closed = false;

  /** A new run with the TCP packet at buf[ip, ip+ipLen). */
  start(buf: Uint8Array, ip: number, ipLen: number, tcpOff: number, hdrLen: number): void {
    this.ip = ip;
    this.end = ip + ipLen;
    this.hdrLen = hdrLen;
    this.tcpOff = tcpOff;
    this.mss = ipLen - hdrLen;
    this.lastPayload = this.mss;
    this.nextSeq = (readI32(buf, ip + tcpOff + 4) + this.mss) | 0;
    this.count = 1;
    this.closed = (buf[ip + tcpOff + 13]! & TCP_PSH) !== 0;
  }

  /**
   * True when the segment at buf[ip] (headers as the run's, checked by the caller for the IP part) may join: the
   * run is open and full-sized so far, the payload is no larger than the MSS, the frame stays within `maxLen`
   * bytes from the run's IP header, and its TCP header continues the run's flow (ports, ack, window, options, seq).
   */
  takes(buf: Uint8Array, ip: number, ipLen: number, hdrLen: number, maxLen: number): boolean {
    const payload = ipLen - hdrLen;
    if (this.closed || hdrLen !== this.hdrLen || this.lastPayload !== this.mss || payload > this.mss) return false;
    if (this.end - this.ip + payload > maxLen) return false;
    const tcp = ip + this.tcpOff;
    const runTcp = this.ip + this.tcpOff;
    for (let i = 0; i < 4; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    for (let i = 8; i < 12; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    if (readU16(buf, tcp + 14) !== readU16(buf, runTcp + 14)) return false;
    for (let i = 20; i < hdrLen - this.tcpOff; i++) if (buf[tcp + i] !== buf[runTcp + i]) return false;
    return readI32(buf, tcp + 4) === this.nextSeq;
  }

  /** Moves the payload of the segment at buf[ip, ip+ipLen) to the run's end; a PSH on it closes the run. */
  append(buf: Uint8Array, ip: number, ipLen: number): void {
    const payload = ipLen - this.hdrLen;
    // Read before the move: the payload may land on this packet's own headers.
    const flags = buf[ip + this.tcpOff + 13]!;
    buf.copyWithin(this.end, ip + this.hdrLen, ip + ipLen);
    this.end += payload;
    this.nextSeq = (this.nextSeq + payload) | 0;
    this.lastPayload = payload;
    this.count++;
    if ((flags & TCP_PSH) !== 0) {
      const runTcp = this.ip + this.tcpOff;
      buf[runTcp + 13] = buf[runTcp + 13]! | TCP_PSH;
      this.closed = true;
    }
  }
}

/** The TUN write queue and the run over one receive buffer; the subclass is one family's decapsulation. */
export abstract class CoalescingBatch {
  readonly writeOffsets: Int32Array;
  readonly writeLengths: Int32Array;
  writeCount = 0;
  protected readonly run = new TcpRun();

  /** `buf` is the loop's receive slab: datagrams are decapsulated in it, and the writes point into it. */
  constructor(protected readonly buf: Uint8Array, maxWrites: number) {
    this.writeOffsets = new Int32Array(maxWrites);
    this.writeLengths = new Int32Array(maxWrites);
  }

  reset(): void {
    this.writeCount = 0;
    this.run.ip = -1;
  }

  /** Emits the pending run; call after the last datagram of a receive batch. */
  flush(counters: Float64Array): void {
    const run = this.run;
    if (run.ip < 0) return;
    const ip = run.ip;
    run.ip = -1;
    if (run.count === 1) {
      this.emitSingle(ip, run.end - ip, counters);
      return;
    }
    this.emitRun(run, ip);
    counters[C.rx_coalesced_frames]!++;
  }

  /**
   * One checked inner packet at buf[ip, ip+ipLen), with VNET_HDR_LEN free bytes before it: appended to the run, or
   * the start of a new one, or written alone. `coalesce` false (or a packet over the TUN's MTU) writes it alone.
   */
  protected deliver(ip: number, ipLen: number, coalesce: boolean, counters: Float64Array): void {
    const hdrLen = coalesce ? this.coalescableHeaderLen(ip, ipLen, counters) : 0;
    if (hdrLen > 0 && this.run.ip >= 0 && this.sameIpHeader(ip, this.run.ip)
      && this.run.takes(this.buf, ip, ipLen, hdrLen, this.maxRunLen)) {
      this.run.append(this.buf, ip, ipLen);
      return;
    }
    this.flush(counters);
    if (hdrLen === 0) {
      this.emitSingle(ip, ipLen, counters);
      return;
    }
    this.run.start(this.buf, ip, ipLen, this.ipHeaderLen(ip), hdrLen);
  }

  protected emit(off: number, len: number): void {
    const n = this.writeCount;
    if (n >= this.writeOffsets.length) return;
    this.writeOffsets[n] = off;
    this.writeLengths[n] = len;
    this.writeCount = n + 1;
  }

  /** The most bytes a coalesced frame may span from its IP header on. */
  protected abstract readonly maxRunLen: number;
  /** IP + TCP header bytes of a TCP data segment that may coalesce (flags ACK/PSH only, checksum right), else 0. */
  protected abstract coalescableHeaderLen(ip: number, ipLen: number, counters: Float64Array): number;
  /** The IP header length of the packet at `ip` (where its TCP header starts). */
  protected abstract ipHeaderLen(ip: number): number;
  /** True when the IP headers at `ip` and `run` agree in everything a coalesced frame keeps. */
  protected abstract sameIpHeader(ip: number, run: number): boolean;
  /** Writes the run of `run.count` segments at `ip` as one TSO frame (lengths, seed, virtio header) and emits it. */
  protected abstract emitRun(run: TcpRun, ip: number): void;
  /** Writes one packet as received (a CHECKSUM_PARTIAL seed or a super-packet marked for the kernel) and emits it. */
  protected abstract emitSingle(ip: number, ipLen: number, counters: Float64Array): void;
}
