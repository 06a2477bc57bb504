// Segmentation (TUN TSO → MSS-sized packets) and coalescing (GRO train → one TSO frame), with every checksum checked
// by the naive implementation in ./datapath-packets.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { DecapBatch, type DecapConfig } from '../../src/datapath/decap.js';
import { emptySegmentResult, segmentTcp4, type SegmentResult } from '../../src/datapath/segment.js';
import { PeerTable } from '../../src/datapath/peer-table.js';
import { emptyVnetHdr, readVnetHdr, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4 } from '../../src/datapath/virtio-hdr.js';
import { macBytes, writeEncapPrefix } from '../../src/datapath/wire.js';
import { completePartialChecksum } from '../../src/datapath/checksum.js';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import {
  checksumsValid, concat, randomBytes, tcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, udpPacket, vxlanFrame, withPartialSeed,
} from '../support/datapath-packets.js';

const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');
const PEER_IP = parseIPv4('192.0.2.2')!;
const TS_OPTION = Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);

function prefix(): Uint8Array {
  const p = new Uint8Array(22);
  writeEncapPrefix(p, 0, 1, PEER_MAC, 0, OWN_MAC);
  return p;
}

/** Segments `frame` as the loop does: the prefix, the frame and the output area in one slab. */
function segment(frame: Uint8Array, mss: number, room = frame.length + 200 * 100): { out: Uint8Array; r: SegmentResult } | null {
  const outOff = 22 + frame.length;
  const buf = new Uint8Array(outOff + room);
  buf.set(prefix(), 0);
  buf.set(frame, 22);
  const r = emptySegmentResult();
  if (!segmentTcp4(buf, 22, frame.length, mss, 0, outOff, buf.length, r)) return null;
  assert.deepEqual(buf.subarray(22, outOff), frame, 'the source is left as it was');
  return { out: buf.subarray(outOff), r };
}

/** Splits segmentTcp4 output (segments of segmentSize, last shorter) into inner packets, checking each prefix. */
function splitSegments(out: Uint8Array, count: number, segmentSize: number, bytes: number): Uint8Array[] {
  const pkts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * segmentSize;
    const end = Math.min(bytes, start + segmentSize);
    assert.deepEqual(out.subarray(start, start + 22), prefix());
    pkts.push(out.slice(start + 22, end));
  }
  return pkts;
}

test('a TSO frame becomes MSS-sized segments with correct lengths, ids, seqs, flags and checksums', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 100, max: 1448 }), fc.boolean(),
    fc.integer({ min: 0, max: 0xffffffff }), (payloadLen, mss, withOptions, seq) => {
      const payload = randomBytes(payloadLen, payloadLen * 31 + mss);
      const frame = tcpPacket({ payload, seq, flags: TCP_ACK | TCP_PSH | TCP_FIN, id: 0xfffe,
        options: withOptions ? TS_OPTION : undefined });
      const s = segment(frame, mss);
      assert.ok(s);
      const { out, r } = s;
      assert.equal(r.count, Math.ceil(payloadLen / mss));
      const pkts = splitSegments(out, r.count, r.segmentSize, r.bytes);
      const hdr = 40 + (withOptions ? 12 : 0);
      pkts.forEach((p, i) => {
        assert.ok(checksumsValid(p), `segment ${i} checksums`);
        assert.equal((p[2]! << 8) | p[3]!, p.length);
        assert.equal((p[4]! << 8) | p[5]!, (0xfffe + i) & 0xffff);
        assert.equal(new DataView(p.buffer).getUint32(24), (seq + i * mss) >>> 0);
        const last = i === pkts.length - 1;
        assert.equal(p[33], last ? TCP_ACK | TCP_PSH | TCP_FIN : TCP_ACK);
        assert.deepEqual(p.subarray(20, hdr).subarray(20), frame.subarray(40, hdr));
      });
      assert.deepEqual(concat(...pkts.map((p) => p.subarray(hdr))), payload);
    }), { numRuns: 60 });
});

test('segmentation refuses what it cannot segment, and an output area one byte too small', () => {
  const tcp = tcpPacket({ payload: randomBytes(3000, 2) });
  assert.equal(segment(udpPacket(randomBytes(100, 1)), 1000), null, 'not TCP');
  assert.equal(segment(tcp.subarray(0, 30), 1000), null, 'shorter than its headers');
  assert.equal(segment(tcp, 0), null, 'MSS 0');
  assert.equal(segment(tcp, 1000, 3 * (22 + 40) + 2999), null, 'one byte short');
  assert.ok(segment(tcp, 1000, 3 * (22 + 40) + 3000), 'exactly enough');
  const empty = segment(tcpPacket({ payload: new Uint8Array(0), flags: TCP_ACK | TCP_FIN }), 1000)!;
  assert.equal(empty.r.count, 1, 'a packet without payload is one segment');
  assert.ok(checksumsValid(empty.out.slice(22, empty.r.bytes)));
});

function decapSetup(buf: Uint8Array, coalesce = true): {
  batch: DecapBatch; peers: PeerTable; cfg: DecapConfig; counters: Float64Array;
} {
  // The test packets go 10.244.1.x → 10.244.2.x: the sending peer holds 10.244.1.0/24, we hold 10.244.2.0/24.
  const peers = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  peers.set(parseIPv4('10.244.1.0')!, PEER_IP, PEER_MAC);
  peers.setOwnSubnet(parseIPv4('10.244.2.0')!, 24);
  return {
    batch: new DecapBatch(buf, 256), peers, counters: new Float64Array(COUNTERS_PER_BLOCK),
    cfg: { vni: 1, ownMac: OWN_MAC, innerMtu: 1450, coalesce },
  };
}

/** Runs one datagram through decap and returns the TUN writes as (vnet header, packet). */
function decap(frames: Uint8Array, gso: number, coalesce = true, src = PEER_IP) {
  const buf = new Uint8Array(frames.length + 64);
  buf.set(frames, 16);
  const s = decapSetup(buf, coalesce);
  s.batch.reset();
  s.batch.datagram(s.cfg, s.peers, 16, frames.length, src, gso, s.counters);
  s.batch.flush(s.counters);
  const writes = [];
  for (let i = 0; i < s.batch.writeCount; i++) {
    const off = s.batch.writeOffsets[i]!;
    const w = buf.slice(off, off + s.batch.writeLengths[i]!);
    writes.push({ vnet: readVnetHdr(w, 0, emptyVnetHdr()), packet: w.subarray(10) });
  }
  return { writes, counters: s.counters };
}

/** What the kernel does with a NEEDS_CSUM write: complete the checksum from csum_start. */
function kernelCompletes(w: { vnet: ReturnType<typeof emptyVnetHdr>; packet: Uint8Array }): Uint8Array {
  const p = w.packet.slice();
  if (w.vnet.flags & VNET_HDR_F_NEEDS_CSUM) completePartialChecksum(p, w.vnet.csumStart, w.vnet.csumOffset, p.length, p[9] === 17);
  return p;
}

test('a GRO train of in-order segments of one flow is coalesced into one TSO write', () => {
  const payload = randomBytes(20 * 1398, 7);
  const frame = tcpPacket({ payload, seq: 0xfffff000, options: TS_OPTION, flags: TCP_ACK | TCP_PSH });
  const { out, r } = segment(frame, 1398)!;
  // The receiver sees the frames with its own MAC as destination: rebuild the prefix as the peer would.
  const train = concat(...splitSegments(out, r.count, r.segmentSize, r.bytes).map((p) => vxlanFrame(p, 1, OWN_MAC, PEER_MAC)));
  const { writes, counters } = decap(train, r.segmentSize);
  assert.equal(writes.length, 1);
  const [w] = writes;
  assert.equal(w!.vnet.gsoType, VNET_HDR_GSO_TCPV4);
  assert.equal(w!.vnet.gsoSize, 1398);
  assert.equal(w!.vnet.hdrLen, 52);
  assert.equal(w!.vnet.flags, VNET_HDR_F_NEEDS_CSUM);
  const full = kernelCompletes(w!);
  assert.ok(checksumsValid(full));
  assert.deepEqual(full.subarray(52), payload);
  assert.equal((full[2]! << 8) | full[3]!, full.length);
  assert.equal(full[33], TCP_ACK | TCP_PSH);
  assert.equal(counters[C.rx_coalesced_frames], 1);
  assert.equal(counters[C.rx_packets], 20);
});

test('a segment whose checksum is bad is not coalesced: it goes on alone, unmarked, for the pod to drop', () => {
  const mss = 1000;
  const payload = randomBytes(6 * mss, 11);
  const frame = tcpPacket({ payload, seq: 5000, flags: TCP_ACK });
  const { out, r } = segment(frame, mss)!;
  const segments = splitSegments(out, r.count, r.segmentSize, r.bytes);
  segments[3]![60] = segments[3]![60]! ^ 0x01; // a bit flipped on the way, in the payload
  const train = concat(...segments.map((p) => vxlanFrame(p, 1, OWN_MAC, PEER_MAC)));
  const { writes, counters } = decap(train, r.segmentSize);
  assert.equal(counters[C.rx_bad_csum], 1);
  assert.equal(writes.length, 3, 'segments 0–2 coalesced, 3 alone, 4–5 coalesced');
  const [before, bad, after] = writes;
  assert.equal(bad!.vnet.flags, 0, 'not NEEDS_CSUM: the pod verifies it, and drops it');
  assert.equal(bad!.vnet.gsoType, VNET_HDR_GSO_NONE);
  assert.ok(!checksumsValid(bad!.packet));
  for (const w of [before!, after!]) {
    assert.equal(w.vnet.gsoType, VNET_HDR_GSO_TCPV4);
    assert.ok(checksumsValid(kernelCompletes(w)));
  }
  assert.deepEqual(kernelCompletes(before!).subarray(40), payload.subarray(0, 3 * mss));
  assert.deepEqual(kernelCompletes(after!).subarray(40), payload.subarray(4 * mss));
  // Segments that carry a local sender's CHECKSUM_PARTIAL seed (a veth underlay passes it on) are coalesced.
  const seeded = concat(...splitSegments(out, r.count, r.segmentSize, r.bytes)
    .map((p) => vxlanFrame(withPartialSeed(p), 1, OWN_MAC, PEER_MAC)));
  const s = decap(seeded, r.segmentSize);
  assert.equal(s.writes.length, 1);
  assert.equal(s.counters[C.rx_bad_csum], 0);
  assert.deepEqual(kernelCompletes(s.writes[0]!).subarray(40), payload);
});

test('segments that break the run (gap, other flow, SYN/FIN, different options) are not merged into it', () => {
  const seg = (seq: number, extra: Partial<Parameters<typeof tcpPacket>[0]> = {}) =>
    vxlanFrame(tcpPacket({ payload: randomBytes(100, seq), seq, ...extra }), 1, OWN_MAC, PEER_MAC);
  const cases: [string, Uint8Array[]][] = [
    ['sequence gap', [seg(0), seg(200)]],
    ['other flow', [seg(0), seg(100, { sport: 1 })]],
    ['FIN', [seg(0), seg(100, { flags: TCP_ACK | TCP_FIN })]],
    ['other options', [seg(0, { options: TS_OPTION }), seg(100)]],
  ];
  for (const [name, frames] of cases) {
    const { writes } = decap(concat(...frames), frames[0]!.length);
    assert.equal(writes.length, 2, name);
  }
  // Datagrams (not a train) are each decapsulated; with coalescing off nothing is merged.
  const { writes } = decap(concat(seg(0), seg(100)), 122 + 40, false);
  assert.equal(writes.length, 2);
  for (const w of writes) {
    assert.equal(w.vnet.gsoType, VNET_HDR_GSO_NONE);
    assert.ok(checksumsValid(w.packet));
  }
});

test('a CHECKSUM_PARTIAL inner packet is written with NEEDS_CSUM so the kernel completes it', () => {
  for (const original of [tcpPacket({ payload: randomBytes(33, 3), flags: 0x02 }), udpPacket(randomBytes(17, 4))]) {
    const { writes, counters } = decap(vxlanFrame(withPartialSeed(original), 1, OWN_MAC, PEER_MAC), 0);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]!.vnet.flags, VNET_HDR_F_NEEDS_CSUM);
    assert.deepEqual(kernelCompletes(writes[0]!), original);
    assert.equal(counters[C.rx_partial_csum], 1);
  }
  // A complete checksum is passed on untouched, without NEEDS_CSUM.
  const ok = tcpPacket({ payload: randomBytes(33, 5) });
  const { writes } = decap(vxlanFrame(ok, 1, OWN_MAC, PEER_MAC), 0);
  assert.equal(writes[0]!.vnet.flags, 0);
  assert.deepEqual(writes[0]!.packet, ok);
});

test('a 64 KiB super-datagram from a kernel peer becomes one TSO write even when GRO reports the inner MSS', () => {
  const payload = randomBytes(60000, 9);
  const big = withPartialSeed(tcpPacket({ payload }));
  const { writes, counters } = decap(vxlanFrame(big, 1, OWN_MAC, PEER_MAC), 1398);
  assert.equal(writes.length, 1);
  assert.equal(writes[0]!.vnet.gsoType, VNET_HDR_GSO_TCPV4);
  assert.ok(writes[0]!.vnet.gsoSize > 0 && writes[0]!.vnet.gsoSize <= 1410);
  const full = kernelCompletes(writes[0]!);
  assert.ok(checksumsValid(full));
  assert.deepEqual(full.subarray(40), payload);
  assert.equal(counters[C.rx_super_datagrams], 1);
});

test('each drop reason is counted and nothing is written', () => {
  const pkt = tcpPacket({ payload: randomBytes(10, 1) });
  const cases: [string, Uint8Array, number][] = [
    ['drop_too_short', vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC).subarray(0, 30), PEER_IP],
    ['drop_bad_flags', vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC, 0x0800, 0x88), PEER_IP],
    ['drop_bad_vni', vxlanFrame(pkt, 7, OWN_MAC, PEER_MAC), PEER_IP],
    ['drop_not_our_mac', vxlanFrame(pkt, 1, PEER_MAC, PEER_MAC), PEER_IP],
    ['drop_not_ipv4', vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC, 0x0806), PEER_IP],
    ['drop_bad_ip', vxlanFrame(pkt.subarray(0, 30), 1, OWN_MAC, PEER_MAC), PEER_IP],
    ['drop_unknown_source', vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC), parseIPv4('192.0.2.99')!],
  ];
  for (const [name, frame, src] of cases) {
    const { writes, counters } = decap(frame, 0, true, src);
    assert.equal(writes.length, 0, name);
    assert.equal(counters[C[name as keyof typeof C]], 1, name);
  }
});

test('random datagrams never throw and never produce a write longer than what was received', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(1500), (bytes, gso) => {
    const { writes } = decap(bytes, gso);
    for (const w of writes) assert.ok(w.packet.length <= bytes.length);
  }), { numRuns: 300 });
});
