// The udp backend's framing: TTL handling as upstream's proxy, the buffer moves (GRO train spread, segment packing),
// and both batch sides with every drop reason.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { encapSlabLayout, TUN_READ_HEADROOM } from '../../src/datapath/encap.js';
import { PeerTable } from '../../src/datapath/peer-table.js';
import { UDP_RX_GAP, UDP_RX_SLOT, UdpDecap, udpRxSlab } from '../../src/datapath/udp-decap.js';
import { UdpEncapBatch } from '../../src/datapath/udp-encap.js';
import { decrementTtl, packSegments, spreadTrain } from '../../src/datapath/udp-framing.js';
import { warmUpUdpDatapath } from '../../src/datapath/udp-warm-up.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, VNET_HDR_LEN, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import { checksumsValid, naiveChecksum, TCP_ACK, tcpPacket, udpPacket } from '../support/datapath-packets.js';

const NETWORK = parseCidr('10.244.0.0/16')!;
const PEER_IP = parseIPv4('192.0.2.11')!;
const DECAP = { vni: 0, ownMac: new Uint8Array(6), innerMtu: 1472, coalesce: true };

/** Our subnet 10.244.2.0/24; one peer, 10.244.1.0/24 at 192.0.2.11. */
function peers(): PeerTable {
  const t = new PeerTable(NETWORK, 24);
  t.setOwnSubnet(parseIPv4('10.244.2.0')!, 24);
  t.set(parseIPv4('10.244.1.0')!, PEER_IP, [0, 0, 0, 0, 0, 0]);
  return t;
}

const counters = (): Float64Array => new Float64Array(COUNTERS_PER_BLOCK);
const withTtl = (p: Uint8Array, ttl: number): Uint8Array => {
  p[8] = ttl;
  p[10] = 0;
  p[11] = 0;
  const c = naiveChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
};

test('decrementTtl lowers the TTL by one with a valid header checksum, and refuses a TTL of 0 or 1', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (ttl, payload) => {
    const p = withTtl(udpPacket(payload), ttl);
    const before = Uint8Array.from(p);
    const ok = decrementTtl(p, 0);
    if (ttl <= 1) {
      assert.equal(ok, false);
      assert.deepEqual(p, before);
    } else {
      assert.equal(ok, true);
      assert.equal(p[8], ttl - 1);
      assert.ok(checksumsValid(p));
      assert.deepEqual(p.subarray(12), before.subarray(12));
    }
  }));
});

test('spreadTrain puts GAP free bytes between the datagrams of a train, each one intact', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 32 }),
    (gso, len, gap) => {
      const data = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);
      const buf = new Uint8Array(8 + len + Math.ceil(len / gso) * gap + 8);
      buf.set(data, 8);
      const n = spreadTrain(buf, 8, len, gso, gap, buf.length);
      assert.equal(n, Math.ceil(len / gso));
      for (let k = 0; k < n; k++) {
        const part = data.subarray(k * gso, Math.min(len, (k + 1) * gso));
        assert.deepEqual(buf.subarray(8 + k * (gso + gap), 8 + k * (gso + gap) + part.length), part);
      }
      if (n > 1) assert.equal(spreadTrain(new Uint8Array(buf.length), 8, len, gso, gap, 8 + len + (n - 1) * gap - 1), 0);
    }));
});

test('packSegments removes the prefix in front of each segment, leaving the packets back to back', () => {
  fc.assert(fc.property(fc.integer({ min: 23, max: 200 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 200 }),
    (segSize, count, lastRaw) => {
      const last = 22 + (lastRaw % (segSize - 22)) + 1;
      const bytes = (count - 1) * segSize + last;
      const buf = Uint8Array.from({ length: bytes + 4 }, (_, i) => (i * 13) & 0xff);
      const orig = Uint8Array.from(buf);
      const left = packSegments(buf, 4, count, segSize, bytes, 22);
      assert.equal(left, bytes - count * 22);
      for (let k = 0; k < count; k++) {
        const from = 4 + k * segSize + 22;
        const end = Math.min(4 + bytes, 4 + (k + 1) * segSize);
        assert.deepEqual(buf.subarray(4 + k * (segSize - 22), 4 + k * (segSize - 22) + end - from), orig.subarray(from, end));
      }
    }));
});

/** Datagrams into a fresh receive slab: each [source, bytes, gso]. */
function receive(dgrams: ReadonlyArray<readonly [number, Uint8Array, number]>, table = peers()): { out: Uint8Array[]; c: Float64Array } {
  const { whole, view } = udpRxSlab(dgrams.length);
  const lengths = new Int32Array(dgrams.length);
  const sources = new Uint32Array(dgrams.length);
  const gso = new Int32Array(dgrams.length);
  dgrams.forEach(([src, bytes, g], i) => {
    view.set(bytes, i * UDP_RX_SLOT);
    lengths[i] = bytes.length;
    sources[i] = src;
    gso[i] = g;
  });
  const d = new UdpDecap(whole, dgrams.length);
  const c = counters();
  d.receive(DECAP, table, dgrams.length, lengths, sources, gso, c);
  const out: Uint8Array[] = [];
  for (let i = 0; i < d.batch.writeCount; i++) {
    out.push(whole.slice(d.batch.writeOffsets[i]! + VNET_HDR_LEN, d.batch.writeOffsets[i]! + d.batch.writeLengths[i]!));
  }
  return { out, c };
}

test('receive: a GRO train of bare packets becomes one TUN write each, TTL lowered, behind a virtio header', () => {
  const ps = [1, 2, 3].map((i) => udpPacket(new Uint8Array(100).fill(i), '10.244.1.5', '10.244.2.7'));
  const train = new Uint8Array(ps.reduce((n, p) => n + p.length, 0));
  ps.forEach((p, i) => train.set(p, i * p.length));
  const { out, c } = receive([[PEER_IP, train, ps[0]!.length]]);
  assert.equal(out.length, 3);
  out.forEach((p, i) => {
    assert.equal(p[8], 63);
    assert.ok(checksumsValid(p));
    assert.deepEqual(p.subarray(20), ps[i]!.subarray(20));
  });
  assert.equal(c[C.rx_packets], 3);
  assert.equal(UDP_RX_GAP >= VNET_HDR_LEN, true);
});

test('receive: in-order TCP segments of a train are coalesced into one TSO write', () => {
  const segs = [0, 1, 2, 3].map((i) => tcpPacket({ src: '10.244.1.5', dst: '10.244.2.7', seq: 1000 + i * 500,
    flags: TCP_ACK, payload: new Uint8Array(500).fill(i + 1) }));
  const train = new Uint8Array(segs.length * segs[0]!.length);
  segs.forEach((p, i) => train.set(p, i * p.length));
  const { out, c } = receive([[PEER_IP, train, segs[0]!.length]]);
  assert.equal(out.length, 1);
  assert.equal(c[C.rx_coalesced_frames], 1);
  assert.equal(out[0]!.length, 40 + 2000);
});

test('receive drop reasons: unknown source, not IPv4, TTL expired, foreign source, foreign destination', () => {
  const good = (src: string, dst: string, ttl = 64): Uint8Array => withTtl(udpPacket(new Uint8Array(20), src, dst), ttl);
  const { out, c } = receive([
    [parseIPv4('198.51.100.9')!, good('10.244.1.5', '10.244.2.7'), 0],
    [PEER_IP, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]), 0],
    [PEER_IP, good('10.244.1.5', '10.244.2.7', 1), 0],
    [PEER_IP, good('10.244.3.5', '10.244.2.7'), 0],
    [PEER_IP, good('10.244.1.5', '10.244.9.7'), 0],
    [PEER_IP, good('10.244.1.5', '10.244.2.7'), 0],
  ]);
  assert.equal(out.length, 1);
  for (const k of ['drop_unknown_source', 'drop_not_ipv4', 'drop_ttl_expired', 'drop_foreign_source', 'drop_foreign_destination'] as const) {
    assert.equal(c[C[k]], 1, k);
  }
});

/** Reads into a fresh transmit slab: each [packet, vnet header writer or null]. */
function transmit(reads: ReadonlyArray<Uint8Array>, tso?: { mss: number }): { batch: UdpEncapBatch; slab: Uint8Array; c: Float64Array } {
  const SLOT = 65536 + 64;
  const layout = encapSlabLayout(reads.length, SLOT, 4);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(reads.length);
  reads.forEach((p, i) => {
    const vnet = i * SLOT + TUN_READ_HEADROOM;
    if (tso) writeVnetHdr(slab, vnet, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, 40, tso.mss, 20, 16);
    slab.set(p, vnet + VNET_HDR_LEN);
    lengths[i] = VNET_HDR_LEN + p.length;
  });
  const batch = new UdpEncapBatch(slab, SLOT, layout.outStart, layout.outEnd, layout.icmpStart, 4, 256);
  const c = counters();
  batch.frame(Int32Array.from([7]), peers(), lengths, reads.length, c);
  return { batch, slab, c };
}

test('transmit: one bare packet per datagram to the owning peer; no route: ICMP net unreachable; TTL 1: dropped', () => {
  const p = udpPacket(new Uint8Array(30).fill(9), '10.244.2.7', '10.244.1.5');
  const { batch, slab, c } = transmit([p, udpPacket(new Uint8Array(4), '10.244.2.7', '10.244.77.1'),
    withTtl(udpPacket(new Uint8Array(4), '10.244.2.7', '10.244.1.5'), 1)]);
  assert.equal(batch.sendCount, 1);
  assert.equal(batch.sendAddrs[0], PEER_IP);
  assert.equal(batch.sendGso[0], 0);
  const sent = slab.subarray(batch.sendOffsets[0]!, batch.sendOffsets[0]! + batch.sendLengths[0]!);
  assert.equal(sent.length, p.length);
  assert.equal(sent[8], 63);
  assert.ok(checksumsValid(sent));
  assert.equal(c[C.drop_no_route], 1);
  assert.equal(batch.tunCount, 1);
  assert.equal(c[C.icmp_unreachable_sent], 1);
  assert.equal(c[C.drop_ttl_expired], 1);
});

test('transmit: a TSO super-packet goes as one UDP_SEGMENT send of bare MSS-sized packets', () => {
  const payload = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
  const big = tcpPacket({ src: '10.244.2.7', dst: '10.244.1.5', seq: 1, flags: TCP_ACK, payload });
  const { batch, slab, c } = transmit([big], { mss: 1400 });
  assert.equal(batch.sendCount, 1);
  assert.equal(batch.sendGso[0], 1440);
  assert.equal(c[C.tx_packets], 4);
  const sent = slab.subarray(batch.sendOffsets[0]!, batch.sendOffsets[0]! + batch.sendLengths[0]!);
  const got: number[] = [];
  for (let off = 0; off < sent.length; off += 1440) {
    const seg = sent.subarray(off, Math.min(sent.length, off + 1440));
    assert.equal((seg[2]! << 8) | seg[3]!, seg.length);
    assert.equal(seg[8], 63);
    assert.ok(checksumsValid(seg));
    got.push(...seg.subarray(40));
  }
  assert.deepEqual(Uint8Array.from(got), payload);
});

test('receive never throws on arbitrary datagrams and GRO sizes, and every TUN write stays inside the slab', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    fc.integer({ min: 0, max: 1600 })), { minLength: 1, maxLength: 4 }), (dgrams) => {
    const table = peers();
    const { whole, view } = udpRxSlab(dgrams.length);
    const lengths = new Int32Array(dgrams.length);
    const sources = new Uint32Array(dgrams.length);
    const gso = new Int32Array(dgrams.length);
    dgrams.forEach(([known, bytes, g], i) => {
      // Half of them start like an IPv4 packet from the peer's pods to ours, so the deeper checks run too.
      if (bytes.length >= 20 && known) {
        bytes[0] = 0x45;
        bytes[8] = Math.max(2, bytes[8]!);
        bytes.set([10, 244, 1, 5, 10, 244, 2, 7], 12);
      }
      view.set(bytes, i * UDP_RX_SLOT);
      lengths[i] = bytes.length;
      sources[i] = known ? PEER_IP : 0xc6336409;
      gso[i] = g;
    });
    const d = new UdpDecap(whole, dgrams.length);
    const c = counters();
    d.receive(DECAP, table, dgrams.length, lengths, sources, gso, c);
    for (let i = 0; i < d.batch.writeCount; i++) {
      assert.ok(d.batch.writeOffsets[i]! >= 0 && d.batch.writeOffsets[i]! + d.batch.writeLengths[i]! <= whole.length);
      assert.ok(d.batch.writeLengths[i]! > VNET_HDR_LEN);
    }
  }), { numRuns: 300 });
});

test('the udp warm-up takes the real paths: packets out and in, coalesced trains, no route, unknown source; nothing malformed', () => {
  const c = warmUpUdpDatapath({ network: NETWORK, subnetLen: 24, sendFds: Int32Array.from([3]), decap: DECAP }, 200, 1);
  for (const k of ['tx_packets', 'tx_tso_frames', 'rx_packets', 'rx_coalesced_frames', 'drop_no_route', 'drop_unknown_source'] as const) {
    assert.ok(c[C[k]]! > 0, k);
  }
  for (const k of ['drop_not_ipv4', 'drop_bad_ip', 'drop_foreign_source', 'drop_foreign_destination', 'drop_ttl_expired', 'drop_truncated'] as const) {
    assert.equal(c[C[k]], 0, k);
  }
});
