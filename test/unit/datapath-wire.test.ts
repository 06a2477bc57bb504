import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  completePartialChecksum, finishChecksum, pseudoHeaderSeed, sumWords, writeIPv4HeaderChecksum,
} from '../../src/datapath/checksum.js';
import { checkVxlanFrame, ipv4PacketLength, macBytes, writeEncapPrefix } from '../../src/datapath/wire.js';
import { innerFlowHash } from '../../src/datapath/flow-hash.js';
import { readVnetHdr, emptyVnetHdr, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import {
  checksumsValid, naiveChecksum, pseudoAndSegment, tcpPacket, udpPacket, vxlanFrame, withPartialSeed,
} from '../support/datapath-packets.js';

const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');

test('sumWords + finishChecksum equals a naive RFC 1071 checksum for any bytes, offset and seed', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(7), (bytes, lead) => {
    const buf = new Uint8Array(lead + bytes.length);
    buf.set(bytes, lead);
    assert.equal(finishChecksum(sumWords(buf, lead, bytes.length)), naiveChecksum(bytes));
  }));
});

test('the IPv4 header checksum written verifies independently', () => {
  const p = tcpPacket({ payload: new Uint8Array(10) });
  p[10] = 0xde;
  p[11] = 0xad;
  writeIPv4HeaderChecksum(p, 0, 20);
  assert.equal(naiveChecksum(p.subarray(0, 20)), 0);
});

test('a CHECKSUM_PARTIAL seed is recognised and completing it gives the correct checksum (TCP and UDP)', () => {
  for (const original of [tcpPacket({ payload: new Uint8Array([1, 2, 3, 4, 5]) }), udpPacket(new Uint8Array([9, 8, 7]))]) {
    const partial = withPartialSeed(original);
    const isTcp = original[9] === 6;
    const field = (partial[20 + (isTcp ? 16 : 6)]! << 8) | partial[20 + (isTcp ? 17 : 7)]!;
    assert.equal(field, pseudoHeaderSeed(partial, 0, original[9]!, original.length - 20));
    assert.equal(checksumsValid(partial), false);
    completePartialChecksum(partial, 20, isTcp ? 16 : 6, partial.length, !isTcp);
    assert.deepEqual(partial, original);
    assert.equal(naiveChecksum(pseudoAndSegment(partial)), 0);
  }
});

test('the encap prefix is VXLAN flags 0x08 + VNI, then Ethernet dst=peer, src=own, type 0x0800', () => {
  const buf = new Uint8Array(22);
  writeEncapPrefix(buf, 0, 0x123456, PEER_MAC, 0, OWN_MAC);
  assert.deepEqual([...buf], [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, ...PEER_MAC, ...OWN_MAC, 0x08, 0x00]);
});

test('checkVxlanFrame accepts a good frame and names each reason to drop', () => {
  const pkt = tcpPacket({ payload: new Uint8Array(4) });
  const verdict = (f: Uint8Array, vni = 1): string | null => checkVxlanFrame(f, 0, f.length, vni, OWN_MAC);
  assert.equal(verdict(vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC)), null);
  assert.equal(verdict(vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC).subarray(0, 30)), 'too_short');
  assert.equal(verdict(vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC, 0x0800, 0x0c)), 'bad_flags');
  assert.equal(verdict(vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC, 0x0800, 0x00)), 'bad_flags');
  assert.equal(verdict(vxlanFrame(pkt, 2, OWN_MAC, PEER_MAC)), 'bad_vni');
  assert.equal(verdict(vxlanFrame(pkt, 1, PEER_MAC, PEER_MAC)), 'not_our_mac');
  assert.equal(verdict(vxlanFrame(pkt, 1, OWN_MAC, PEER_MAC, 0x86dd)), 'not_ipv4');
});

test('ipv4PacketLength rejects non-IPv4, short headers and lengths beyond the buffer', () => {
  const pkt = tcpPacket({ payload: new Uint8Array(4) });
  assert.equal(ipv4PacketLength(pkt, 0, pkt.length), pkt.length);
  assert.equal(ipv4PacketLength(pkt, 0, pkt.length - 1), 0);
  const v6 = pkt.slice();
  v6[0] = 0x60;
  assert.equal(ipv4PacketLength(v6, 0, v6.length), 0);
  const shortIhl = pkt.slice();
  shortIhl[0] = 0x44;
  assert.equal(ipv4PacketLength(shortIhl, 0, shortIhl.length), 0);
});

test('the flow hash is stable per flow and differs across ports', () => {
  const a = tcpPacket({ sport: 1000, payload: new Uint8Array(1) });
  const b = tcpPacket({ sport: 1001, payload: new Uint8Array(1) });
  assert.equal(innerFlowHash(a, 0, a.length), innerFlowHash(a.slice(), 0, a.length));
  assert.notEqual(innerFlowHash(a, 0, a.length), innerFlowHash(b, 0, b.length));
});

test('virtio_net_hdr round-trips little-endian fields', () => {
  const b = new Uint8Array(10);
  writeVnetHdr(b, 0, 1, 1, 54, 1398, 20, 16);
  assert.deepEqual([...b], [1, 1, 54, 0, 0x76, 0x05, 20, 0, 16, 0]);
  assert.deepEqual(readVnetHdr(b, 0, emptyVnetHdr()), { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1398, csumStart: 20, csumOffset: 16 });
});

test('macBytes rejects text that is not a MAC with a one-line error naming it', () => {
  assert.throws(() => macBytes('02:00:00:00:00'), /invalid MAC address "02:00:00:00:00"/);
});
