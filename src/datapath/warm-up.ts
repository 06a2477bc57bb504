// JIT warm-up for a loop thread, without I/O. At ping rates (a packet every few ms) V8 keeps the encap/decap code in
// its baseline tier for thousands of packets, and a lone packet then costs ~25 µs of JS per hop instead of ~10 µs
// (measured in bench/notes/datapath-steps.md). Running the per-packet paths on synthetic packets before the loop
// starts gets them optimised up front; the work lands on private buffers, a private peer table and throwaway counters.
import { COUNTERS_PER_BLOCK } from './counters.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM, type EncapConfig } from './encap.js';
import { PeerTable } from './peer-table.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_LEN, writeVnetHdr } from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, writeEncapPrefix, writeU16, writeU32 } from './wire.js';
import { writeIPv4HeaderChecksum } from './checksum.js';

/** Iterations that get the per-packet paths optimised by V8 (measured: about 20 ms of CPU on this VM). */
export const WARM_UP_ITERATIONS = 4000;

const SRC_IP = 0x0af40102; // 10.244.1.2: a pod behind us
const DST_IP = 0x0af40202; // 10.244.2.2: a pod behind the peer
const PEER_SUBNET = 0x0af40200;
const PEER_PUBLIC_IP = 0xc0000202; // 192.0.2.2
const OWN_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
const PEER_MAC = [0x02, 0, 0, 0, 0, 2];
const VNI = 1;
const SLOT_SIZE = 2048;

/** A packet of `proto` with `l4Len` bytes after the IPv4 header, at buf[off]; returns its length. */
function writePacket(buf: Uint8Array, off: number, proto: number, l4Len: number): number {
  const total = 20 + l4Len;
  buf.fill(0, off, off + total);
  buf[off] = 0x45;
  writeU16(buf, off + 2, total);
  buf[off + 6] = 0x40; // DF
  buf[off + 8] = 64;
  buf[off + 9] = proto;
  writeU32(buf, off + 12, SRC_IP);
  writeU32(buf, off + 16, DST_IP);
  writeIPv4HeaderChecksum(buf, off, 20);
  const l4 = off + 20;
  if (proto === IPPROTO_ICMP) buf[l4] = 8; // echo request
  if (proto === IPPROTO_TCP) {
    writeU16(buf, l4, 40000);
    writeU16(buf, l4 + 2, 5201);
    buf[l4 + 12] = 5 << 4;
    buf[l4 + 13] = 0x10; // ACK
    writeU16(buf, l4 + 14, 512);
  }
  if (proto === IPPROTO_UDP) {
    writeU16(buf, l4, 40000);
    writeU16(buf, l4 + 2, 53);
    writeU16(buf, l4 + 4, l4Len);
  }
  return total;
}

/** The shapes of lone packets: ping, a pure TCP ACK (checksum left to us, as the TUN hands it), TCP data, UDP. */
const SHAPES: ReadonlyArray<{ proto: number; l4Len: number; partial: boolean }> = [
  { proto: IPPROTO_ICMP, l4Len: 64, partial: false },
  { proto: IPPROTO_TCP, l4Len: 20, partial: true },
  { proto: IPPROTO_TCP, l4Len: 20 + 100, partial: true },
  { proto: IPPROTO_UDP, l4Len: 8 + 40, partial: false },
];

/**
 * Runs the encap path (TUN read → VXLAN datagram) and the decap path (datagram → TUN write) `iterations` times on
 * synthetic packets. Pure CPU work; nothing leaves the process. Returns its private counters (COUNTER_INDEX), so a
 * test can check that the packets took the forwarding paths rather than a drop.
 */
export function warmUpDatapath(iterations = WARM_UP_ITERATIONS): Float64Array {
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  const peers = new PeerTable({ ip: 0x0af40000, prefixLen: 16 }, 24);
  peers.apply({ op: 'set', subnetIP: PEER_SUBNET, publicIP: PEER_PUBLIC_IP, mac: PEER_MAC });

  const layout = encapSlabLayout(1, SLOT_SIZE, 1);
  const txSlab = new Uint8Array(layout.size);
  const lengths = new Int32Array(1);
  const encap = new EncapBatch(txSlab, SLOT_SIZE, layout.outStart, layout.outEnd, layout.icmpStart, 1, 64);
  const encapCfg: EncapConfig = { vni: VNI, ownMac: OWN_MAC, sendFds: Int32Array.of(-1) };

  const rxSlab = new Uint8Array(SLOT_SIZE);
  const decap = new DecapBatch(64);
  const decapCfg: DecapConfig = { vni: VNI, ownMac: OWN_MAC, innerMtu: 1450, coalesce: true };

  for (let i = 0; i < iterations; i++) {
    const shape = SHAPES[i % SHAPES.length]!;
    const ipLen = writePacket(txSlab, ENCAP_PREFIX_LEN, shape.proto, shape.l4Len);
    const csumOffset = shape.proto === IPPROTO_TCP ? 16 : 6;
    writeVnetHdr(txSlab, TUN_READ_HEADROOM, shape.partial ? VNET_HDR_F_NEEDS_CSUM : 0, VNET_HDR_GSO_NONE, 0, 0,
      shape.partial ? 20 : 0, shape.partial ? csumOffset : 0);
    lengths[0] = VNET_HDR_LEN + ipLen;
    encap.encapsulate(encapCfg, peers, lengths, 1, counters);

    writeEncapPrefix(rxSlab, 0, VNI, OWN_MAC, 0, OWN_MAC);
    writePacket(rxSlab, ENCAP_PREFIX_LEN, shape.proto, shape.l4Len);
    decap.reset();
    decap.datagram(decapCfg, peers, rxSlab, 0, ENCAP_PREFIX_LEN + ipLen, PEER_PUBLIC_IP, 0, counters);
    decap.flush(counters);
  }
  return counters;
}
