// JIT warm-up for a loop thread, without I/O. At ping rates (a packet every few ms) V8 keeps the encap/decap code in
// its baseline tier for thousands of packets, and a lone packet then costs ~25 µs of JS per hop instead of ~10 µs
// (measured in bench/notes/datapath-steps.md). Running the per-packet paths on synthetic packets before the loop
// starts gets them optimised up front; the work lands on private buffers, a private peer table and throwaway counters.
// Two things decide whether the optimised code survives into the loop (seen with --trace-opt/--trace-deopt):
// - The loop's own config objects and Network go through the warm-up. A config object built after it (another
//   Uint8Array for ownMac, a Network whose address is not a small integer) generalises a field type that the
//   optimised code depends on, and V8 throws that code away; at ping rates it is not rebuilt for minutes.
// - TurboFan compiles on a background thread (15–40 ms here). The warm-up runs in rounds with pauses between, so
//   the compiles land, and a compile aborted by an early change is requested again, before the loop starts.
import { counterBlock, newCounterBuffer } from './counters.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM, type EncapConfig } from './encap.js';
import { PeerTable } from './peer-table.js';
import type { Ipv4Net } from '../net/ipv4.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_LEN, writeVnetHdr } from './virtio-hdr.js';
import { ENCAP_PREFIX_LEN, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, writeEncapPrefix, writeU16, writeU32 } from './wire.js';
import { writeIPv4HeaderChecksum } from './checksum.js';

/** Iterations per round that get the per-packet paths optimised by V8 (about 20 ms of CPU on this VM). */
export const WARM_UP_ITERATIONS = 4000;
/** Rounds after the first, each after a pause that lets background compiles finish. */
const EXTRA_ROUNDS = 2;
const PAUSE_MS = 25;

const PEER_PUBLIC_IP = 0xc0000202; // 192.0.2.2
const PEER_MAC = [0x02, 0, 0, 0, 0, 2];
const SLOT_SIZE = 2048;

/** What the loop thread will run with: the same objects, so that V8 sees no new shapes after the warm-up. */
export interface WarmUpTarget {
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  readonly encap: EncapConfig;
  readonly decap: DecapConfig;
}

/** A pod address in subnet slot `slot` of the Network (slot 0 when the Network holds one subnet). */
function podAddress(network: Ipv4Net, subnetLen: number, slot: number): number {
  const subnets = 2 ** Math.min(30, subnetLen - network.prefixLen);
  const size = 2 ** (32 - subnetLen);
  return (network.ip + (slot % subnets) * size + Math.min(2, size - 1)) >>> 0;
}

/** A packet of `proto` with `l4Len` bytes after the IPv4 header, at buf[off]; returns its length. */
function writePacket(buf: Uint8Array, off: number, proto: number, l4Len: number, src: number, dst: number): number {
  const total = 20 + l4Len;
  buf.fill(0, off, off + total);
  buf[off] = 0x45;
  writeU16(buf, off + 2, total);
  buf[off + 6] = 0x40; // DF
  buf[off + 8] = 64;
  buf[off + 9] = proto;
  writeU32(buf, off + 12, src);
  writeU32(buf, off + 16, dst);
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
 * Every ODD_EVERY-th iteration takes a drop path instead. Real traffic meets these soon (the kernel sends IPv6
 * router solicitations into a new TUN; a peer leaves), and a branch V8 has not seen throws the optimised code away.
 */
const ODD_EVERY = 8;
const ODD_CASES = ['ipv6', 'no_route', 'bad_vni', 'unknown_source'] as const;

/** An address that no peer owns: the first one past the Network, or past the warm-up's peer subnet. */
function unroutedAddress(network: Ipv4Net, subnetLen: number): number {
  if (network.prefixLen > 0) return (network.ip + 2 ** (32 - network.prefixLen)) >>> 0;
  return podAddress(network, subnetLen, 2);
}

/**
 * Runs the encap path (TUN read → VXLAN datagram) and the decap path (datagram → TUN write) on synthetic packets,
 * `rounds` times `iterations`, pausing between rounds. Pure CPU work; nothing leaves the process. Returns its private
 * counters (COUNTER_INDEX), so a test can check which paths the packets took.
 */
export function warmUpDatapath(target: WarmUpTarget, iterations = WARM_UP_ITERATIONS,
  rounds = 1 + EXTRA_ROUNDS): Float64Array {
  const counters = counterBlock(newCounterBuffer(1), 0);
  const peers = new PeerTable(target.network, target.subnetLen);
  const src = podAddress(target.network, target.subnetLen, 0);
  const dst = podAddress(target.network, target.subnetLen, 1);
  const unrouted = unroutedAddress(target.network, target.subnetLen);
  peers.apply({ op: 'set', subnetIP: peers.subnetAddressOf(dst), publicIP: PEER_PUBLIC_IP, mac: PEER_MAC });

  const layout = encapSlabLayout(1, SLOT_SIZE, 1);
  const txSlab = new Uint8Array(layout.size);
  const lengths = new Int32Array(1);
  const encap = new EncapBatch(txSlab, SLOT_SIZE, layout.outStart, layout.outEnd, layout.icmpStart, 1, 64);
  const rxSlab = new Uint8Array(SLOT_SIZE);
  const decap = new DecapBatch(rxSlab, 64);
  const ownMac = target.decap.ownMac;
  const pause = new Int32Array(new SharedArrayBuffer(4));

  /** `version` 6 turns the packet into what the encap path must drop: an IPv6 one. */
  const encapOne = (proto: number, l4Len: number, partial: boolean, to: number, version = 4): void => {
    const ipLen = writePacket(txSlab, ENCAP_PREFIX_LEN, proto, l4Len, src, to);
    if (version === 6) txSlab[ENCAP_PREFIX_LEN] = 0x60;
    const csumOffset = proto === IPPROTO_TCP ? 16 : 6;
    writeVnetHdr(txSlab, TUN_READ_HEADROOM, partial ? VNET_HDR_F_NEEDS_CSUM : 0, VNET_HDR_GSO_NONE, 0, 0,
      partial ? 20 : 0, partial ? csumOffset : 0);
    lengths[0] = VNET_HDR_LEN + ipLen;
    encap.encapsulate(target.encap, peers, lengths, 1, counters);
  };
  const decapOne = (proto: number, l4Len: number, vni: number, from: number): void => {
    writeEncapPrefix(rxSlab, 0, vni, ownMac, 0, ownMac);
    const ipLen = writePacket(rxSlab, ENCAP_PREFIX_LEN, proto, l4Len, dst, src);
    decap.reset();
    decap.datagram(target.decap, peers, 0, ENCAP_PREFIX_LEN + ipLen, from, 0, counters);
    decap.flush(counters);
  };

  for (let round = 0; round < rounds; round++) {
    if (round > 0) Atomics.wait(pause, 0, 0, PAUSE_MS);
    for (let i = 0; i < iterations; i++) {
      const shape = SHAPES[i % SHAPES.length]!;
      if (i % ODD_EVERY !== ODD_EVERY - 1) {
        encapOne(shape.proto, shape.l4Len, shape.partial, dst);
        decapOne(shape.proto, shape.l4Len, target.decap.vni, PEER_PUBLIC_IP);
        continue;
      }
      switch (ODD_CASES[Math.floor(i / ODD_EVERY) % ODD_CASES.length]!) {
        case 'ipv6':
          encapOne(shape.proto, shape.l4Len, false, dst, 6);
          break;
        case 'no_route':
          encapOne(IPPROTO_ICMP, 64, false, unrouted);
          break;
        case 'bad_vni':
          decapOne(shape.proto, shape.l4Len, (target.decap.vni + 1) & 0xffffff, PEER_PUBLIC_IP);
          break;
        case 'unknown_source':
          decapOne(shape.proto, shape.l4Len, target.decap.vni, (PEER_PUBLIC_IP + 1) >>> 0);
          break;
      }
    }
  }
  return counters;
}
