// JIT warm-up for an IPv6 loop thread (loop6-worker.ts), for the reasons and by the rules of the IPv4 one
// (warm-up.ts): the loop's own config objects go through the IPv6 per-packet paths (encap6.ts, decap6.ts, the
// tunnel-GSO frame writer when the loop runs it) on the same synthetic conversation in IPv6 (warm-up-traffic.ts),
// in rounds with pauses, with one iteration in 8 a drop path. Without it a lone IPv6 packet at ping rates runs
// baseline code for thousands of packets. Work lands on private buffers, a private peer table and private counters.
import { counterBlock, newCounterBuffer } from './counters.js';
import type { DecapConfig } from './decap.js';
import { Decap6Batch } from './decap6.js';
import { Encap6Batch, type Encap6Config } from './encap6.js';
import { ip6Words, PeerTable6 } from './peer-table6.js';
import { TUNNEL6_ROOM, type Tunnel6Config } from './tunnel-frame6.js';
import { SyntheticTraffic, TRAFFIC_SHAPES, trafficBufferSize } from './warm-up-traffic.js';
import { WARM_UP_ITERATIONS, warmUpRounds } from './warm-up.js';
import { ip6ToBuffer, type Ipv6Net } from '../net/ipv6.js';

const ROUNDS = 3;
/** The warm-up peer's PublicIPv6, 2001:db8::2 (documentation space; nothing is sent). */
const PEER_PUBLIC_IP6 = 0x20010db8000000000000000000000002n;
const PEER_MAC = [0x02, 0, 0, 0, 0, 2];
/** Segments of one 64 KiB read add at most this many bytes of headers (as the loop's own slab allows). */
const SEGMENT_ROOM = 128 * 128;

/** What the loop thread will run with: the same objects, so that V8 sees no new shapes after the warm-up. */
export interface WarmUp6Target {
  readonly network: Ipv6Net;
  readonly subnetLen: number;
  readonly encap: Encap6Config;
  readonly decap: DecapConfig;
  /** The tunnel-GSO send path's outer headers, when the loop runs it. */
  readonly tunnel?: Tunnel6Config;
}

/** The `slot`-th subnet of the Network (modulo the subnets it holds). */
function subnetAt(network: Ipv6Net, subnetLen: number, slot: number): bigint {
  const bits = Math.min(16, subnetLen - network.prefixLen);
  return network.ip + (BigInt(slot % 2 ** bits) << BigInt(128 - subnetLen));
}

/** An address in no peer's subnet: past the Network, or (a ::/0 Network) in a third subnet. */
function unroutedAddress(network: Ipv6Net, subnetLen: number): bigint {
  if (network.prefixLen === 0) return subnetAt(network, subnetLen, 2) + 2n;
  return (network.ip + (1n << BigInt(128 - network.prefixLen)) + 2n) & ((1n << 128n) - 1n);
}

const words = (ip: bigint): Uint32Array => Uint32Array.from(ip6Words(ip));

/**
 * Runs the IPv6 encap path (TUN read → VXLAN datagrams, or TAP frames) and decap path (datagrams → TUN write) on
 * synthetic traffic, `rounds` times `iterations`. Pure CPU work; nothing leaves the process. Returns its private
 * counters (COUNTER_INDEX), so a test can check which paths the packets took.
 */
export function warmUpDatapath6(target: WarmUp6Target, iterations = WARM_UP_ITERATIONS, rounds = ROUNDS): Float64Array {
  const counters = counterBlock(newCounterBuffer(1), 0);
  const own = subnetAt(target.network, target.subnetLen, 0);
  const peer = subnetAt(target.network, target.subnetLen, 1);
  const peers = new PeerTable6(target.network, target.subnetLen);
  const peerWords = ip6Words(peer);
  const ownWords = ip6Words(own);
  peers.apply({ op: 'set', subnet: [peerWords[0]!, peerWords[1]!], publicIP: ip6Words(PEER_PUBLIC_IP6), mac: PEER_MAC });
  peers.apply({ op: 'own', subnet: [ownWords[0]!, ownWords[1]!], prefixLen: target.subnetLen });
  const innerMtu = target.decap.innerMtu;
  const traffic = new SyntheticTraffic(0, 1, innerMtu, { src: ip6ToBuffer(own + 2n), dst: ip6ToBuffer(peer + 2n),
    unrouted: ip6ToBuffer(unroutedAddress(target.network, target.subnetLen)) });
  // With a tunnel, the reads land TUNNEL6_ROOM further into the slot (Encap6Batch.readHeadroom).
  const readAt = target.tunnel === undefined ? 0 : TUNNEL6_ROOM;
  const slotSize = trafficBufferSize(innerMtu) + readAt;
  const txSlab = new Uint8Array(2 * slotSize + SEGMENT_ROOM);
  const lengths = new Int32Array(1);
  const encap = new Encap6Batch(txSlab, slotSize, slotSize, txSlab.length, 64, target.tunnel ?? null);
  const rxSlab = new Uint8Array(trafficBufferSize(innerMtu));
  const decap = new Decap6Batch(rxSlab, 64);
  const received = { length: 0, gsoSize: 0 };
  const known = words(PEER_PUBLIC_IP6);
  const stranger = words(PEER_PUBLIC_IP6 + 1n);

  const encapOne = (shape: number, to: number, version = 6): void => {
    lengths[0] = traffic.tunRead(txSlab, readAt, TRAFFIC_SHAPES[shape]!, to, version);
    encap.encapsulate(target.encap, peers, lengths, 1, counters);
  };
  const decapOne = (shape: number, vni: number, from: Uint32Array): void => {
    traffic.datagram(rxSlab, 0, TRAFFIC_SHAPES[shape]!, vni, target.decap.ownMac, received);
    decap.reset();
    decap.datagram(target.decap, peers, 0, received.length, from, 0, received.gsoSize, counters);
    decap.flush(counters);
  };
  // tunRead's `to`: 1 is the peer's pod (the traffic's `dst`), 0 the unrouted address.
  warmUpRounds(iterations, rounds, (shape) => {
    encapOne(shape, 1);
    decapOne(shape, target.decap.vni, known);
  }, (odd, shape) => {
    if (odd === 'other_family') encapOne(shape, 1, 4);
    else if (odd === 'no_route') encapOne(0, 0);
    else if (odd === 'bad_vni') decapOne(shape, (target.decap.vni + 1) & 0xffffff, known);
    else decapOne(shape, target.decap.vni, stranger);
  });
  return counters;
}
