// JIT warm-up for a loop thread with the udp framing: the vxlan warm-up's reasons and rules (warm-up.ts) applied to
// the udp per-packet paths (udp-encap.ts, udp-decap.ts), on the same synthetic traffic (warm-up-traffic.ts) with
// each VXLAN prefix cut away so the receive side sees bare packets, as from a udp peer.
import type { DecapConfig } from './decap.js';
import { encapSlabLayout } from './encap.js';
import { UdpDecap, udpRxSlab } from './udp-decap.js';
import { UdpEncapBatch } from './udp-encap.js';
import { packSegments } from './udp-framing.js';
import { TRAFFIC_SHAPES } from './warm-up-traffic.js';
import { PEER_PUBLIC_IP, WARM_UP_ITERATIONS, warmUpScene } from './warm-up.js';
import { ENCAP_PREFIX_LEN } from './wire.js';
import type { Ipv4Net } from '../net/ipv4.js';

const ROUNDS = 3;
const PAUSE_MS = 25;
const ODD_EVERY = 8;

/** The loop's own objects, so that V8 sees no new shapes after the warm-up. */
export interface UdpWarmUpTarget {
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  readonly sendFds: Int32Array;
  readonly decap: DecapConfig;
}

/** Runs both udp paths on synthetic traffic; returns its private counters. Pure CPU work; nothing is sent. */
export function warmUpUdpDatapath(target: UdpWarmUpTarget, iterations = WARM_UP_ITERATIONS, rounds = ROUNDS): Float64Array {
  const { counters, peers, dst, traffic, slotSize } = warmUpScene(target.network, target.subnetLen, target.decap.innerMtu);
  const layout = encapSlabLayout(1, slotSize, 1);
  const txSlab = new Uint8Array(layout.size);
  const txLengths = new Int32Array(1);
  const encap = new UdpEncapBatch(txSlab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, 1, 64);
  const { whole, view } = udpRxSlab(1);
  const decap = new UdpDecap(whole, 1);
  const rxLengths = new Int32Array(1);
  const rxSources = new Uint32Array(1);
  const rxGso = new Int32Array(1);
  const received = { length: 0, gsoSize: 0 };
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const noMac = new Uint8Array(6);

  for (let round = 0; round < rounds; round++) {
    if (round > 0) Atomics.wait(pause, 0, 0, PAUSE_MS);
    for (let i = 0; i < iterations; i++) {
      const shape = TRAFFIC_SHAPES[i % TRAFFIC_SHAPES.length]!;
      const odd = i % ODD_EVERY === ODD_EVERY - 1;
      // Odd iterations: a destination no peer owns (ICMP unreachable) and a datagram from a stranger.
      txLengths[0] = traffic.tunRead(txSlab, 0, shape, odd ? (dst ^ 0x80000000) >>> 0 : dst, 4);
      encap.frame(target.sendFds, peers, txLengths, 1, counters);
      traffic.datagram(view, 0, shape, 0, noMac, received);
      const gso = received.gsoSize;
      const count = gso > 0 ? Math.ceil(received.length / gso) : 1;
      rxLengths[0] = packSegments(view, 0, count, gso > 0 ? gso : received.length, received.length, ENCAP_PREFIX_LEN);
      rxGso[0] = gso > 0 ? gso - ENCAP_PREFIX_LEN : 0;
      rxSources[0] = odd ? (PEER_PUBLIC_IP + 1) >>> 0 : PEER_PUBLIC_IP;
      decap.receive(target.decap, peers, 1, rxLengths, rxSources, rxGso, counters);
    }
  }
  return counters;
}
