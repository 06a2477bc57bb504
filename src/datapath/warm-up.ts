// JIT warm-up for a loop thread, without I/O. At ping rates (a packet every few ms) V8 keeps the encap/decap code in
// its baseline tier for thousands of packets, and a lone packet then costs ~25 µs of JS per hop instead of ~10 µs
// (measured in bench/notes/datapath-steps.md). Running the per-packet paths on synthetic packets before the loop
// starts gets them optimised up front; the work lands on private buffers, a private peer table and throwaway counters.
// Three things decide whether the optimised code survives into the loop (seen with --trace-opt/--trace-deopt):
// - The loop's own config objects and Network go through the warm-up. A config object built after it (another
//   Uint8Array for ownMac, a Network whose address is not a small integer) generalises a field type that the
//   optimised code depends on, and V8 throws that code away; at ping rates it is not rebuilt for minutes.
// - TurboFan compiles on a background thread (15–40 ms here). The warm-up runs in rounds with pauses between, so
//   the compiles land, and a compile aborted by an early change is requested again, before the loop starts.
// - Every branch and value range of real traffic is taken (warm-up-traffic.ts, and one iteration in 8 a drop path).
import { counterBlock, newCounterBuffer } from './counters.js';
import { DecapBatch, type DecapConfig } from './decap.js';
import { EncapBatch, encapSlabLayout, type EncapConfig } from './encap.js';
import { PeerTable } from './peer-table.js';
import { TUNNEL_ROOM, type TunnelConfig } from './tunnel-frame.js';
import { SyntheticTraffic, TRAFFIC_SHAPES, trafficBufferSize } from './warm-up-traffic.js';
import type { Ipv4Net } from '../net/ipv4.js';

/** Iterations per round that get the per-packet paths optimised by V8 (tens of ms of CPU on this VM). */
export const WARM_UP_ITERATIONS = 3000;
/** Rounds after the first, each after a pause that lets background compiles finish. */
const EXTRA_ROUNDS = 2;
const PAUSE_MS = 25;

export const PEER_PUBLIC_IP = 0xc0000202; // 192.0.2.2
const PEER_MAC = [0x02, 0, 0, 0, 0, 2];

/** What the loop thread will run with: the same objects, so that V8 sees no new shapes after the warm-up. */
export interface WarmUpTarget {
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  readonly encap: EncapConfig;
  readonly decap: DecapConfig;
  /** The tunnel-GSO send path's outer headers, when the loop runs it: its frame writers are warmed too. */
  readonly tunnel?: TunnelConfig;
}

/** A pod address in subnet slot `slot` of the Network (slot 0 when the Network holds one subnet). */
function podAddress(network: Ipv4Net, subnetLen: number, slot: number): number {
  const subnets = 2 ** Math.min(30, subnetLen - network.prefixLen);
  const size = 2 ** (32 - subnetLen);
  return (network.ip + (slot % subnets) * size + Math.min(2, size - 1)) >>> 0;
}

/**
 * Every ODD_EVERY-th iteration takes a drop path instead. Real traffic meets these soon (the kernel sends IPv6
 * router solicitations into a new TUN; a peer leaves), and a branch V8 has not seen throws the optimised code away.
 */
const ODD_EVERY = 8;
/** The drop paths, in turn: the other family's packet, no route, a wrong VNI, an unknown outer source. */
export const ODD_CASES = ['other_family', 'no_route', 'bad_vni', 'unknown_source'] as const;
export type OddCase = (typeof ODD_CASES)[number];

/**
 * The warm-up's schedule, shared by both families: `rounds` times `iterations`, pausing between rounds so that
 * background compiles land; each iteration forwards one traffic shape both ways, or every ODD_EVERY-th takes a
 * drop path (ODD_CASES in turn).
 */
export function warmUpRounds(iterations: number, rounds: number, forward: (shape: number) => void,
  drop: (odd: OddCase, shape: number) => void): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let round = 0; round < rounds; round++) {
    if (round > 0) Atomics.wait(pause, 0, 0, PAUSE_MS);
    for (let i = 0; i < iterations; i++) {
      const shape = i % TRAFFIC_SHAPES.length;
      if (i % ODD_EVERY !== ODD_EVERY - 1) forward(shape);
      else drop(ODD_CASES[Math.floor(i / ODD_EVERY) % ODD_CASES.length]!, shape);
    }
  }
}

/** An address that no peer owns: the first one past the Network, or past the warm-up's peer subnet. */
function unroutedAddress(network: Ipv4Net, subnetLen: number): number {
  if (network.prefixLen > 0) return (network.ip + 2 ** (32 - network.prefixLen)) >>> 0;
  return podAddress(network, subnetLen, 2);
}

/** What every framing's warm-up starts from: private counters, a table with one peer (PEER_PUBLIC_IP) and our subnet. */
export function warmUpScene(network: Ipv4Net, subnetLen: number, innerMtu: number): {
  counters: Float64Array; peers: PeerTable; src: number; dst: number; traffic: SyntheticTraffic; slotSize: number;
} {
  const counters = counterBlock(newCounterBuffer(1), 0);
  const peers = new PeerTable(network, subnetLen);
  const src = podAddress(network, subnetLen, 0);
  const dst = podAddress(network, subnetLen, 1);
  peers.apply({ op: 'set', subnetIP: peers.subnetAddressOf(dst), publicIP: PEER_PUBLIC_IP, mac: PEER_MAC });
  peers.apply({ op: 'own', subnetIP: peers.subnetAddressOf(src), prefixLen: subnetLen });
  return { counters, peers, src, dst, traffic: new SyntheticTraffic(src, dst, innerMtu), slotSize: trafficBufferSize(innerMtu) };
}

/**
 * Runs the encap path (TUN read → VXLAN datagrams) and the decap path (datagrams → TUN write) on synthetic traffic
 * (warm-up-traffic.ts), `rounds` times `iterations`, pausing between rounds. Pure CPU work; nothing leaves the
 * process. Returns its private counters (COUNTER_INDEX), so a test can check which paths the packets took.
 */
export function warmUpDatapath(target: WarmUpTarget, iterations = WARM_UP_ITERATIONS,
  rounds = 1 + EXTRA_ROUNDS): Float64Array {
  const { counters, peers, dst, traffic, slotSize: trafficSlotSize } = warmUpScene(target.network, target.subnetLen,
    target.decap.innerMtu);
  const unrouted = unroutedAddress(target.network, target.subnetLen);
  // With a tunnel, the reads land TUNNEL_ROOM further into the slot (EncapBatch.readHeadroom).
  const readAt = target.tunnel === undefined ? 0 : TUNNEL_ROOM;
  const slotSize = trafficSlotSize + readAt;
  const layout = encapSlabLayout(1, slotSize, 1);
  const txSlab = new Uint8Array(layout.size);
  const lengths = new Int32Array(1);
  const encap = new EncapBatch(txSlab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, 1, 64,
    target.tunnel ?? null);
  const rxSlotSize = slotSize - readAt;
  const rxSlab = new Uint8Array(rxSlotSize);
  const decap = new DecapBatch(rxSlab, 64);
  const received = { length: 0, gsoSize: 0 };

  const encapOne = (shapeIndex: number, to: number, version = 4): void => {
    lengths[0] = traffic.tunRead(txSlab, readAt, TRAFFIC_SHAPES[shapeIndex]!, to, version);
    encap.encapsulate(target.encap, peers, lengths, 1, counters);
  };
  const decapOne = (shapeIndex: number, vni: number, from: number): void => {
    traffic.datagram(rxSlab, 0, TRAFFIC_SHAPES[shapeIndex]!, vni, target.decap.ownMac, received);
    decap.reset();
    decap.datagram(target.decap, peers, 0, received.length, from, received.gsoSize, counters);
    decap.flush(counters);
  };

  warmUpRounds(iterations, rounds, (shape) => {
    encapOne(shape, dst);
    decapOne(shape, target.decap.vni, PEER_PUBLIC_IP);
  }, (odd, shape) => {
    switch (odd) {
      case 'other_family':
        encapOne(shape, dst, 6);
        break;
      case 'no_route':
        encapOne(0, unrouted);
        break;
      case 'bad_vni':
        decapOne(shape, (target.decap.vni + 1) & 0xffffff, PEER_PUBLIC_IP);
        break;
      case 'unknown_source':
        decapOne(shape, target.decap.vni, (PEER_PUBLIC_IP + 1) >>> 0);
        break;
    }
  });
  return counters;
}
