// The IPv6 half's face of the native addon: IPv6 UDP sockets (udp6.cc) and TSO6 segmentation (segment.cc).
// Addresses are four host-order uint32 words (word 0 the most significant), so no call needs a bigint.
import { loadAddon } from '../native/addon.js';

export interface Udp6Io {
  /** Binds [bindAddr]:port (IPv6 only: the IPv4 socket on the same port keeps its own traffic). */
  udp6Open(bindAddr: Uint32Array, port: number,
    opts: { rcvbuf?: number; sndbuf?: number; gro?: boolean; reusePort?: boolean }): number;
  /** As UdpIo.recvBatch; the source of datagram i is srcAddrs[4i, 4i+4). */
  recvBatch6(fd: number, slab: Uint8Array, slotSize: number, maxSlots: number, lengths: Int32Array,
    srcAddrs: Uint32Array, gsoSizes: Int32Array, timeoutMs: number): number;
  /** As UdpIo.sendBatch; the destination of message i is dstAddrs[4i, 4i+4). */
  sendBatch6(fds: Int32Array, slab: Uint8Array, offsets: Int32Array, lengths: Int32Array, dstAddrs: Uint32Array,
    dstPort: number, gsoSizes: Int32Array, count: number): number;
}

export interface Segmentation6 {
  /** As Segmentation.segmentTcp4, for TCP over IPv6 without extension headers. */
  segmentTcp6(buf: Uint8Array, ip: number, len: number, mss: number, prefixOff: number, outOff: number,
    outEnd: number, layout: Int32Array): number;
}

export const udp6Io = (): Udp6Io => loadAddon() as Udp6Io;
export const segmentation6 = (): Segmentation6 => loadAddon() as Segmentation6;
