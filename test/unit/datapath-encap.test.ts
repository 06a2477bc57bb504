import test from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM } from '../../src/datapath/encap.js';
import { PeerTable } from '../../src/datapath/peer-table.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { macBytes } from '../../src/datapath/wire.js';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import { checksumsValid, naiveChecksum, randomBytes, tcpPacket, udpPacket, withPartialSeed } from '../support/datapath-packets.js';

const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');
const SLOT = 65536 + 64;

function setup(packets: { pkt: Uint8Array; vnet?: [number, number, number, number, number, number] }[]) {
  const layout = encapSlabLayout(4, SLOT, 4);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(4);
  packets.forEach(({ pkt, vnet }, i) => {
    const v = vnet ?? [0, 0, 0, 0, 0, 0];
    writeVnetHdr(slab, i * SLOT + TUN_READ_HEADROOM, ...v);
    slab.set(pkt, i * SLOT + 22);
    lengths[i] = pkt.length + 10;
  });
  const peers = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  peers.set(parseIPv4('10.244.2.0')!, parseIPv4('192.0.2.2')!, PEER_MAC);
  const batch = new EncapBatch(slab, SLOT, layout.outStart, layout.outEnd, layout.icmpStart, 4, 256);
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  batch.encapsulate({ vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.from([11, 12]) }, peers, lengths, packets.length, counters);
  const sends = [];
  for (let i = 0; i < batch.sendCount; i++) {
    const off = batch.sendOffsets[i]!;
    sends.push({ fd: batch.sendFds[i]!, addr: batch.sendAddrs[i]!, gso: batch.sendGso[i]!,
      bytes: slab.slice(off, off + batch.sendLengths[i]!) });
  }
  const tunWrites = [];
  for (let i = 0; i < batch.tunCount; i++) {
    const off = batch.tunOffsets[i]!;
    tunWrites.push(slab.slice(off + 10, off + batch.tunLengths[i]!));
  }
  return { sends, tunWrites, counters };
}

test('a plain packet to a peer is sent as one VXLAN datagram to its PublicIP', () => {
  const pkt = tcpPacket({ payload: randomBytes(100, 1) });
  const { sends, counters } = setup([{ pkt }]);
  assert.equal(sends.length, 1);
  assert.equal(sends[0]!.addr, parseIPv4('192.0.2.2'));
  assert.equal(sends[0]!.gso, 0);
  assert.deepEqual([...sends[0]!.bytes.subarray(0, 22)], [8, 0, 0, 0, 0, 0, 1, 0, ...PEER_MAC, ...OWN_MAC, 8, 0]);
  assert.deepEqual(sends[0]!.bytes.subarray(22), pkt);
  assert.equal(counters[C.tx_packets], 1);
});

test('a packet with NEEDS_CSUM from the TUN is sent with its checksum completed', () => {
  const original = udpPacket(randomBytes(51, 2));
  const { sends } = setup([{ pkt: withPartialSeed(original), vnet: [VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 6] }]);
  assert.deepEqual(sends[0]!.bytes.subarray(22), original);
});

test('a TSO frame is segmented and queued as UDP_SEGMENT sends of at most 64 KiB each', () => {
  const payload = randomBytes(64000, 3);
  const frame = withPartialSeed(tcpPacket({ payload }));
  const { sends, counters } = setup([{ pkt: frame, vnet: [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, 40, 1400, 20, 16] }]);
  assert.ok(sends.length >= 2);
  const segSize = 22 + 40 + 1400;
  let got = 0;
  for (const s of sends) {
    assert.ok(s.bytes.length <= 65507);
    assert.equal(s.fd, sends[0]!.fd, 'one flow keeps one source port');
    for (let o = 0; o < s.bytes.length; o += segSize) {
      const inner = s.bytes.subarray(o + 22, Math.min(s.bytes.length, o + segSize));
      assert.ok(checksumsValid(inner));
      got += inner.length - 40;
    }
  }
  assert.equal(got, payload.length);
  assert.equal(counters[C.tx_tso_frames], 1);
  assert.equal(counters[C.tx_packets], Math.ceil(64000 / 1400));
});

test('a packet to a subnet with no peer is dropped as no_route and answered with ICMP net unreachable', () => {
  const pkt = tcpPacket({ dst: '10.244.9.9', payload: randomBytes(20, 4) });
  const { sends, tunWrites, counters } = setup([{ pkt }]);
  assert.equal(sends.length, 0);
  assert.equal(counters[C.drop_no_route], 1);
  assert.equal(tunWrites.length, 1);
  const icmp = tunWrites[0]!;
  assert.equal(naiveChecksum(icmp.subarray(0, 20)), 0);
  assert.deepEqual([...icmp.subarray(12, 20)], [10, 244, 9, 0, 10, 244, 1, 2]);
  assert.equal(icmp[20], 3);
  assert.equal(icmp[21], 0);
  assert.equal(naiveChecksum(icmp.subarray(20)), 0);
  assert.deepEqual(icmp.subarray(28), pkt.subarray(0, 28));
  // Never an ICMP error about an ICMP error.
  const err = setup([{ pkt: icmp.slice() }]);
  assert.equal(err.tunWrites.length, 0);
});

test('a non-IPv4 read is dropped as not_ipv4', () => {
  const v6 = new Uint8Array(60);
  v6[0] = 0x60;
  const { sends, counters } = setup([{ pkt: v6 }]);
  assert.equal(sends.length, 0);
  assert.equal(counters[C.drop_not_ipv4], 1);
});
