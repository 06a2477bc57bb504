// The IPv6 half of the userspace datapath, without I/O: the two-word peer table against a bigint model, TSO6
// segmentation (every checksum checked by the naive sum), the MSS clamp for the IPv6 outer header, GRO trains
// coalesced into one TSO6 write, and the anti-injection rules for IPv6.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { Decap6Batch } from '../../src/datapath/decap6.js';
import { Encap6Batch, OUTER6_HEADER_LEN, TUN6_READ_HEADROOM, VNET_HDR_GSO_TCPV6 } from '../../src/datapath/encap6.js';
import { PeerTable6, ip6Words } from '../../src/datapath/peer-table6.js';
import { emptyVnetHdr, readVnetHdr, VNET_HDR_F_NEEDS_CSUM, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { macBytes } from '../../src/datapath/wire.js';
import { ip6ToBuffer, parseCidr6, requireIPv6 } from '../../src/net/ipv6.js';
import { concat, randomBytes, TCP_ACK, TCP_FIN, TCP_PSH, vxlanFrame } from '../support/datapath-packets.js';
import { checksum6Valid, tcp6Packet } from '../support/datapath-packets6.js';

const NETWORK = parseCidr6('fd00:1::/48')!;
const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');
const PEER_PUBLIC = requireIPv6('2001:db8::12');
const own = (): number[] => ip6Words(requireIPv6('fd00:1:0:2::')).slice(0, 2);

function table(): PeerTable6 {
  const t = new PeerTable6(NETWORK, 64);
  t.apply({ op: 'own', subnet: own(), prefixLen: 64 });
  t.apply({ op: 'set', subnet: ip6Words(requireIPv6('fd00:1:0:1::')).slice(0, 2), publicIP: ip6Words(PEER_PUBLIC),
    mac: [...PEER_MAC] });
  return t;
}

const addrAt = (ip: bigint): Uint8Array => Uint8Array.from(ip6ToBuffer(ip));

test('the peer table finds every address of a leased /64 and nothing else, as a bigint model says', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.boolean()), { maxLength: 80 }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (ops, host) => {
      const t = new PeerTable6(NETWORK, 64);
      const model = new Map<number, bigint>();
      for (const [id, add] of ops) {
        const subnet = NETWORK.ip | (BigInt(id) << 64n);
        const words = ip6Words(subnet).slice(0, 2);
        const pub = requireIPv6('2001:db8::') + BigInt(id % 7);
        if (add) {
          t.apply({ op: 'set', subnet: words, publicIP: ip6Words(pub), mac: [2, 0, 0, 0, 0, id & 255] });
          model.set(id, pub);
        } else {
          t.apply({ op: 'delete', subnet: words });
          model.delete(id);
        }
      }
      for (let id = 0; id < 0x10000; id += 257) {
        const slot = t.lookup(addrAt(NETWORK.ip | (BigInt(id) << 64n) | host), 0);
        const want = model.get(id);
        if (want === undefined) assert.equal(slot, -1, `subnet ${id}`);
        else assert.deepEqual([...t.publicIPs.subarray(4 * slot, 4 * slot + 4)], ip6Words(want));
      }
      for (let k = 0; k < 7; k++) {
        const pub = requireIPv6('2001:db8::') + BigInt(k);
        const known = [...model.values()].includes(pub);
        assert.equal(t.isKnownSource(Uint32Array.from(ip6Words(pub)), 0), known, `source ${k}`);
      }
    }), { numRuns: 100 });
});

test('an IPv6SubnetLen longer than 64 is refused with a line naming the field and the fix', () => {
  assert.throws(() => new PeerTable6(NETWORK, 80), /IPv6SubnetLen 80 .*set IPv6SubnetLen to 64 or run --vxlan-datapath kernel/);
});

/** One TUN read of `packet` behind a virtio header, encapsulated with an outer MTU; the send queue and slab. */
function encap(packet: Uint8Array, vnet: (buf: Uint8Array, off: number) => void, outerMtu = 1500) {
  const slot = 70000;
  const outEnd = slot + 70000 + 128 * 128;
  const slab = new Uint8Array(outEnd);
  slab.set(packet, TUN6_READ_HEADROOM + 10);
  vnet(slab, TUN6_READ_HEADROOM);
  const batch = new Encap6Batch(slab, slot, slot, outEnd, 256);
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  batch.encapsulate({ vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.of(7), outerMtu }, table(),
    Int32Array.of(packet.length + 10), 1, counters);
  return { batch, slab, counters };
}

test('a TSO6 read becomes checksummed segments that fit the IPv6 underlay MTU, in UDP_SEGMENT sends', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60000 }), fc.integer({ min: 500, max: 1440 }),
    fc.integer({ min: 0, max: 0xffffffff }), (payloadLen, gso, seq) => {
      const payload = randomBytes(payloadLen, payloadLen + gso);
      // From our pod to the peer's.
      const packet = tcp6Packet({ payload, seq, flags: TCP_ACK | TCP_PSH | TCP_FIN, src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2' });
      const { batch, slab, counters } = encap(packet, (b, o) => writeVnetHdr(b, o, 0, VNET_HDR_GSO_TCPV6, 60, gso, 0, 0));
      const mss = Math.min(gso, 1500 - OUTER6_HEADER_LEN - 22 - 60);
      const count = Math.ceil(payloadLen / mss);
      assert.equal(counters[C.tx_tso_frames], 1);
      assert.equal(counters[C.tx_packets], count);
      const segments: Uint8Array[] = [];
      for (let m = 0; m < batch.sendCount; m++) {
        const seg = batch.sendGso[m]! || batch.sendLengths[m]!;
        assert.ok(seg + OUTER6_HEADER_LEN <= 1500, `segment of ${seg} bytes fits`);
        assert.deepEqual([...batch.sendAddrs.subarray(4 * m, 4 * m + 4)], ip6Words(PEER_PUBLIC));
        for (let o = batch.sendOffsets[m]!; o < batch.sendOffsets[m]! + batch.sendLengths[m]!; o += seg) {
          const end = Math.min(o + seg, batch.sendOffsets[m]! + batch.sendLengths[m]!);
          assert.deepEqual([...slab.subarray(o + 8, o + 14)], [...PEER_MAC]);
          assert.deepEqual([...slab.subarray(o + 20, o + 22)], [0x86, 0xdd]);
          segments.push(slab.slice(o + 22, end));
        }
      }
      assert.equal(segments.length, count);
      segments.forEach((p, i) => {
        assert.ok(checksum6Valid(p), `segment ${i} checksum`);
        assert.equal(((p[4]! << 8) | p[5]!) + 40, p.length);
        assert.equal(new DataView(p.buffer).getUint32(44), (seq + i * mss) >>> 0);
        assert.equal(p[53], i === count - 1 ? TCP_ACK | TCP_PSH | TCP_FIN : TCP_ACK);
      });
      assert.deepEqual(concat(...segments.map((p) => p.subarray(60))), payload);
    }), { numRuns: 40 });
});

test('a packet to a subnet no peer leases is dropped and answered with an ICMPv6 no-route from that subnet', () => {
  const packet = tcp6Packet({ payload: randomBytes(10), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:9::2' });
  const { batch, counters } = encap(packet, () => undefined);
  assert.equal(batch.sendCount, 0);
  assert.equal(counters[C.drop_no_route], 1);
  assert.equal(batch.tunCount, 1);
  const reply = batch.icmpSlab.slice(batch.tunOffsets[0]! + 10, batch.tunOffsets[0]! + batch.tunLengths[0]!);
  assert.equal(reply[6], 58, 'ICMPv6');
  assert.deepEqual([reply[40], reply[41]], [1, 0], 'destination unreachable, no route');
  assert.deepEqual(reply.subarray(8, 24), addrAt(requireIPv6('fd00:1:0:9::')), 'from the unreachable subnet');
  assert.deepEqual(reply.subarray(24, 40), addrAt(requireIPv6('fd00:1:0:2::2')), 'to the sender');
  assert.ok(checksum6Valid(reply), 'ICMPv6 checksum');
  assert.deepEqual(reply.subarray(48), packet, 'the packet quoted whole');
  const icmpError = encap(concat(packet.subarray(0, 40), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)).map((b, i) =>
    (i === 6 ? 58 : i === 5 ? 8 : b)), () => undefined);
  assert.equal(icmpError.batch.tunCount, 0, 'no error about an ICMPv6 error');
});

/** Decapsulates `frames` as one GRO train from `src` (4 words), returning the TUN writes and counters. */
function decap(frames: Uint8Array[], src = ip6Words(PEER_PUBLIC)) {
  const slab = new Uint8Array(70000);
  const train = concat(...frames);
  slab.set(train, 0);
  const batch = new Decap6Batch(slab, 64);
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  const cfg = { vni: 1, ownMac: OWN_MAC, innerMtu: 1450, coalesce: true };
  batch.datagram(cfg, table(), 0, train.length, Uint32Array.from(src), 0, frames.length > 1 ? frames[0]!.length : 0, counters);
  batch.flush(counters);
  const writes = Array.from({ length: batch.writeCount }, (_, i) =>
    slab.slice(batch.writeOffsets[i]!, batch.writeOffsets[i]! + batch.writeLengths[i]!));
  return { writes, counters };
}

const frame = (p: Uint8Array): Uint8Array => vxlanFrame(p, 1, OWN_MAC, PEER_MAC, 0x86dd);

test('a GRO train of in-order TCP6 segments becomes one TSO6 write with the payloads joined', () => {
  const parts = [0, 1, 2].map((i) => randomBytes(1000, i + 5));
  const { writes, counters } = decap(parts.map((payload, i) =>
    frame(tcp6Packet({ payload, seq: 5000 + i * 1000, flags: i === 2 ? TCP_ACK | TCP_PSH : TCP_ACK }))));
  assert.equal(writes.length, 1);
  assert.equal(counters[C.rx_coalesced_frames], 1);
  const w = writes[0]!;
  const vnet = readVnetHdr(w, 0, emptyVnetHdr());
  assert.equal(vnet.gsoType, VNET_HDR_GSO_TCPV6);
  assert.equal(vnet.flags, VNET_HDR_F_NEEDS_CSUM);
  assert.deepEqual([vnet.gsoSize, vnet.hdrLen, vnet.csumStart, vnet.csumOffset], [1000, 60, 40, 16]);
  const ip = w.subarray(10);
  assert.equal((ip[4]! << 8) | ip[5]!, 20 + 3000);
  assert.equal(ip[53], TCP_ACK | TCP_PSH);
  assert.deepEqual(ip.subarray(60), concat(...parts));
});

test('out-of-order segments are not joined, and each is written alone with its checksum intact', () => {
  const { writes } = decap([frame(tcp6Packet({ payload: randomBytes(1000, 1), seq: 1000 })),
    frame(tcp6Packet({ payload: randomBytes(1000, 2), seq: 9000 }))]);
  assert.equal(writes.length, 2);
  for (const w of writes) assert.ok(checksum6Valid(w.subarray(10)));
});

test('anti-injection: an unknown outer source, a foreign inner source and a foreign destination are dropped', () => {
  const ok = frame(tcp6Packet({ payload: randomBytes(10) }));
  assert.equal(decap([ok]).writes.length, 1, 'the peer\'s own pod to ours passes');
  const unknown = decap([ok], ip6Words(requireIPv6('2001:db8::66')));
  assert.equal(unknown.counters[C.drop_unknown_source], 1);
  const foreignSrc = decap([frame(tcp6Packet({ payload: randomBytes(10), src: 'fd00:1:0:3::2' }))]);
  assert.equal(foreignSrc.counters[C.drop_foreign_source], 1);
  const foreignDst = decap([frame(tcp6Packet({ payload: randomBytes(10), dst: 'fd00:1:0:1::9' }))]);
  assert.equal(foreignDst.counters[C.drop_foreign_destination], 1);
  for (const r of [unknown, foreignSrc, foreignDst]) assert.equal(r.writes.length, 0);
});
