// The datapath's face of the native addon (native/src), one small interface per concern, each named after the C++
// file that implements it. Syscall-shaped: fds are numbers, packets live in caller-owned slabs, results are written
// into caller-owned typed arrays, so no call allocates per packet. The policy stays in TypeScript.
import { loadAddon } from '../native/addon.js';

/** TUN devices (tun.cc): open, offloads, batched reads and writes; closeFd closes any fd the addon opened. */
export interface TunIo {
  tunOpen(name: string, opts: { vnetHdr?: boolean; multiQueue?: boolean; persist?: boolean }): { fd: number; name: string };
  tunSetOffload(fd: number, flags: number): void;
  /**
   * Waits up to timeoutMs (0: not at all, -1: forever) for the first packet, polling before the first read when it
   * waits; packet i at slab[i*slotSize + headroom].
   */
  readBatch(fd: number, slab: Uint8Array, slotSize: number, maxSlots: number, lengths: Int32Array, timeoutMs: number,
    headroom?: number): number;
  writeBatch(fd: number, slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number;
  closeFd(fd: number): void;
}

/** UDP sockets (udp.cc): open with buffers, GRO and SO_REUSEPORT; recvmmsg; sendmmsg with UDP_SEGMENT. */
export interface UdpIo {
  /** bindAddr is a host-order uint32 (0 = any). */
  udpOpen(bindAddr: number, port: number, opts: { rcvbuf?: number; sndbuf?: number; gro?: boolean; reusePort?: boolean }): number;
  /** Waits like readBatch; lengths[i] is -1 for a datagram larger than its slot. */
  recvBatch(fd: number, slab: Uint8Array, slotSize: number, maxSlots: number, lengths: Int32Array, srcAddrs: Uint32Array,
    gsoSizes: Int32Array, timeoutMs: number): number;
  sendBatch(fds: Int32Array, slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, dstAddrs: Uint32Array,
    dstPort: number, gsoSizes: Int32Array, count: number): number;
}

/** An opaque native handle (napi External). */
export type LoopIoHandle = { readonly __loopIo: unique symbol };

export interface LoopIoSpec {
  readonly tunFd: number;
  readonly udpFd: number;
  /** A wake-up fd (WakeIo) that makes loopWait return at once when signalled. */
  readonly wakeFd?: number;
  readonly headroom: number;
  readonly txSlab: Uint8Array;
  readonly txSlotSize: number;
  readonly txLengths: Int32Array;
  readonly rxSlab: Uint8Array;
  readonly rxSlotSize: number;
  readonly rxLengths: Int32Array;
  readonly rxSources: Uint32Array;
  readonly rxGsoSizes: Int32Array;
  /** 6: the socket is IPv6 and rxSources holds 4 words per datagram (absent: IPv4, one word). */
  readonly family?: 4 | 6;
}

/** The both-direction loop's wait (loop_io.cc): one call polls the TUN and the socket and reads both. */
export interface LoopWaitIo {
  /** Binds a loop's fds and receive buffers for loopWait; slots per side: its lengths' length. */
  loopIoOpen(spec: LoopIoSpec): LoopIoHandle;
  /**
   * Polls the TUN and the socket (spinning first for spinMicros), then reads what is queued on each into the bound
   * buffers: TUN packets (at headroom in each tx slot) | UDP datagrams << 8; 0 when nothing came within timeoutMs.
   */
  loopWait(io: LoopIoHandle, timeoutMs: number, spinMicros: number): number;
}

/** Wake-up fds of the both-direction loops (wake.cc): an idle loop sleeps until traffic or a signal. */
export interface WakeIo {
  /** An eventfd; close it with TunIo.closeFd. */
  wakeFdOpen(): number;
  wakeFdSignal(fd: number): void;
}

/** TCP segmentation of TSO super-packets (segment.cc), where every TCP rule of it lives. */
export interface Segmentation {
  /**
   * See segmentTcp4 in segment.ts; returns the number of segments written (0: none) and sets layout[0] to the size
   * of every segment but the last (prefix included) and layout[1] to the bytes written.
   */
  segmentTcp4(buf: Uint8Array, ip: number, len: number, mss: number, prefixOff: number, outOff: number,
    outEnd: number, layout: Int32Array): number;
}

/** The Internet checksum's sum (csum.cc). */
export interface ChecksumNative {
  /** Folded big-endian 16-bit ones' complement sum of buf[off, off+len). */
  checksumSum(buf: Uint8Array, off: number, len: number): number;
}

/** The calling thread's scheduling (thread.cc). */
export interface ThreadControl {
  /** True when every requested change took effect. */
  setThreadScheduling(opts: { nice?: number; fifoPriority?: number }): boolean;
}

export const tunIo = (): TunIo => loadAddon() as TunIo;
export const udpIo = (): UdpIo => loadAddon() as UdpIo;
export const loopWaitIo = (): LoopWaitIo => loadAddon() as LoopWaitIo;
export const wakeIo = (): WakeIo => loadAddon() as WakeIo;
export const segmentation = (): Segmentation => loadAddon() as Segmentation;
export const checksumNative = (): ChecksumNative => loadAddon() as ChecksumNative;
export const threadControl = (): ThreadControl => loadAddon() as ThreadControl;
