// The tunnel-GSO send path of the IPv6 half without a kernel: the frame Encap6Batch queues for the TAP for every
// packet shape the loop reads from flannel-v6.<VNI> (its 24-byte virtio tunnel header, outer Ethernet/IPv6/UDP with
// the checksum seed, VXLAN prefix, inner packet), a model of the kernel's segmentation and outer-checksum completion
// that must give valid datagrams within the underlay MTU, the TAP's name and the handover of the send-path choice.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_INDEX as C } from '../../src/datapath/counters.js';
import {
  INNER6_IP_OFFSET, MAX_TUNNEL6_INNER_LEN, OUTER6_UDP_OFFSET, tunnel6Mss,
} from '../../src/datapath/tunnel-frame6.js';
import { tunnelSourcePort } from '../../src/datapath/tunnel-frame.js';
import { tunnelTap6Name } from '../../src/datapath/tunnel-tap6.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_F_UDP_TUNNEL_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP_TUNNEL_IPV6,
} from '../../src/datapath/virtio-hdr.js';
import { macBytes } from '../../src/datapath/wire.js';
import { ip6ToBuffer, parseCidr6, requireIPv6 } from '../../src/net/ipv6.js';
import { decodeLoops6, encodeLoops6 } from '../../src/reload/handover6.js';
import { concat, randomBytes, TCP_ACK, TCP_FIN, TCP_PSH } from '../support/datapath-packets.js';
import { checksum6Valid, tcp6Packet } from '../support/datapath-packets6.js';
import {
  fold16, kernelFrames6, sumWords16, tapFrames6, type Tunnel6Setup, type Vnet,
} from '../support/tunnel6-frames.js';

const NETWORK = parseCidr6('fd00:1::/48')!;
const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');
const TAP_MAC = macBytes('0a:11:22:33:44:55');
const LOCAL = requireIPv6('2001:db8::11');
const PEER_PUBLIC = requireIPv6('2001:db8::12');

const SETUP: Tunnel6Setup = {
  network: NETWORK, ownSubnet: requireIPv6('fd00:1:0:2::'), peerSubnet: requireIPv6('fd00:1:0:1::'), local: LOCAL,
  peerPublic: PEER_PUBLIC, ownMac: OWN_MAC, peerMac: PEER_MAC, tapMac: TAP_MAC, port: 4789, vni: 1, outerMtu: 1500,
};

const encap = (packet: Uint8Array, vnet: Vnet, outerMtu = 1500) => tapFrames6(packet, vnet, { ...SETUP, outerMtu });

const u16le = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >> 8;
  b[o + 1] = v & 0xff;
};
const fold = fold16;
const sumBytes = sumWords16;

/** The folded sum of the IPv6 UDP pseudo-header, computed here without src/datapath. */
function pseudoSum(src: Uint8Array, dst: Uint8Array, udpLen: number): number {
  let s = 17 + udpLen;
  for (let i = 0; i < 16; i += 2) s += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  return fold(s);
}

/** A peer's view of one outer datagram (IPv6 from the frame's Ethernet payload on): its UDP checksum verifies. */
function outerUdpValid(ip6: Uint8Array): boolean {
  return checksum6Valid(ip6);
}

/** The kernel's segmentation of a TSO6 tunnel frame (support/tunnel6-frames.ts): each outer IPv6 datagram. */
const kernelSegments = (frame: Uint8Array): Uint8Array[] => kernelFrames6(frame).map((f) => f.subarray(14));

test('a TSO6 read becomes one TAP frame: TCPV6 | UDP_TUNNEL_IPV6 with the tunnel checksum, offsets, clamped MSS', () => {
  const payload = randomBytes(30000, 7);
  const packet = tcp6Packet({ payload, flags: TCP_ACK | TCP_PSH, src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2' });
  const { frames, counters, batch } = encap(packet, [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, 60, 1440, 40, 16]);
  assert.equal(batch.sendCount, 0, 'nothing goes the segmenting way');
  assert.equal(frames.length, 1);
  const f = frames[0]!;
  const mss = 1500 - 40 - 8 - 22 - 60;
  assert.deepEqual([f[0], f[1]], [VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_UDP_TUNNEL_CSUM,
    VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_UDP_TUNNEL_IPV6]);
  assert.deepEqual([u16le(f, 2), u16le(f, 4), u16le(f, 6), u16le(f, 8)], [INNER6_IP_OFFSET + 60, mss,
    INNER6_IP_OFFSET + 40, 16]);
  assert.deepEqual([u16le(f, 20), u16le(f, 22)], [14 + 40, 14 + 40 + 8 + 22]);
  const body = f.subarray(24);
  assert.deepEqual([...body.subarray(0, 6)], [...TAP_MAC]);
  assert.deepEqual([...body.subarray(6, 12)], [...OWN_MAC]);
  assert.deepEqual([body[12], body[13]], [0x86, 0xdd]);
  assert.equal(body[14]! >> 4, 6);
  const udpLen = 8 + 22 + packet.length;
  assert.deepEqual([u16(body, 18), body[20], body[21]], [udpLen, 17, 64]);
  assert.deepEqual([...body.subarray(22, 38)], [...ip6ToBuffer(LOCAL)]);
  assert.deepEqual([...body.subarray(38, 54)], [...ip6ToBuffer(PEER_PUBLIC)]);
  assert.equal(u16(body, 56), 4789);
  assert.ok(u16(body, 54) >= 32768 && u16(body, 54) <= 60999);
  assert.equal(u16(body, 58), udpLen);
  assert.equal(u16(body, 60), pseudoSum(body.subarray(22, 38), body.subarray(38, 54), udpLen), 'outer UDP seed');
  assert.deepEqual([...body.subarray(62 + 8, 62 + 14)], [...PEER_MAC]);
  assert.deepEqual([...body.subarray(INNER6_IP_OFFSET)], [...packet], 'the inner packet as read');
  assert.equal(counters[C.tx_tunnel_frames], 1);
  assert.equal(counters[C.tx_packets], Math.ceil(30000 / mss));
});

test('the kernel segmentation of every TSO6 frame gives valid datagrams that fit the underlay MTU', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60000 }), fc.integer({ min: 500, max: 1440 }),
    fc.integer({ min: 1280, max: 9000 }), fc.integer({ min: 0, max: 0xffffffff }), (len, gso, mtu, seq) => {
      const payload = randomBytes(len, len + gso);
      const packet = tcp6Packet({ payload, seq, flags: TCP_ACK | TCP_PSH | TCP_FIN, src: 'fd00:1:0:2::2',
        dst: 'fd00:1:0:1::2' });
      const { frames } = encap(packet, [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, 60, gso, 40, 16], mtu);
      assert.equal(frames.length, 1);
      const mss = tunnel6Mss(gso, 60, mtu);
      assert.equal(u16le(frames[0]!, 4), mss);
      const segs = kernelSegments(frames[0]!);
      assert.equal(segs.length, Math.ceil(len / mss));
      segs.forEach((s, i) => {
        assert.ok(s.length <= mtu, `segment ${i}: ${s.length} bytes within MTU ${mtu}`);
        assert.ok(outerUdpValid(s), `segment ${i}: outer UDP checksum`);
        assert.ok(checksum6Valid(s.subarray(48 + 22)), `segment ${i}: inner TCP checksum`);
      });
      assert.deepEqual(concat(...segs.map((s) => s.subarray(48 + 22 + 60))), payload);
    }), { numRuns: 30 });
});

test('a TSO6 frame with ECN keeps the ECN bit in the tunnel gso_type', () => {
  const packet = tcp6Packet({ payload: randomBytes(5000, 3), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2' });
  const { frames } = encap(packet, [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_ECN, 60, 1400, 40, 16]);
  assert.equal(frames[0]![1], VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_UDP_TUNNEL_IPV6 | VNET_HDR_GSO_ECN);
});

test('a single packet is one frame: inner checksum completed here, the outer one left to the kernel', () => {
  for (const partial of [true, false]) {
    const packet = tcp6Packet({ payload: randomBytes(700, 5), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2' });
    if (partial) {
      // As the TUN hands it: the TCP checksum field holds the pseudo-header seed.
      put16(packet, 56, 0);
      const p = new Uint8Array(40);
      p.set(packet.subarray(8, 40));
      new DataView(p.buffer).setUint32(32, packet.length - 40);
      p[39] = 6;
      put16(packet, 56, fold(sumBytes(p)));
    }
    const { frames, batch } = encap(packet, partial ? [VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 40, 16] : [0, 0, 0, 0, 0, 0]);
    assert.equal(batch.sendCount, 0);
    const f = frames[0]!;
    assert.deepEqual([f[0], f[1], u16le(f, 4), u16le(f, 6), u16le(f, 8)],
      [VNET_HDR_F_NEEDS_CSUM, 0, 0, OUTER6_UDP_OFFSET, 6]);
    const body = f.slice(24);
    assert.ok(checksum6Valid(body.subarray(INNER6_IP_OFFSET)), 'inner checksum complete');
    // The kernel's CHECKSUM_PARTIAL completion of the outer UDP checksum from its seed.
    const c = ~fold(sumBytes(body.subarray(OUTER6_UDP_OFFSET))) & 0xffff;
    put16(body, OUTER6_UDP_OFFSET + 6, c);
    assert.ok(outerUdpValid(body.subarray(14)), 'outer UDP checksum');
  }
});

test('one flow keeps one outer source port, taken from the inner flow hash', () => {
  const a = tcp6Packet({ payload: randomBytes(100, 1), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2', sport: 1111 });
  const b = tcp6Packet({ payload: randomBytes(200, 2), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2', sport: 1111 });
  const pa = u16(encap(a, [0, 0, 0, 0, 0, 0]).frames[0]!, 24 + 54);
  const pb = u16(encap(b, [0, 0, 0, 0, 0, 0]).frames[0]!, 24 + 54);
  assert.equal(pa, pb);
  assert.ok(pa >= tunnelSourcePort(0) && pa <= 60999);
});

test('a packet too large for one outer IPv6 datagram, or a GSO type not carried, goes the segmenting way', () => {
  const big = tcp6Packet({ payload: randomBytes(MAX_TUNNEL6_INNER_LEN - 60 + 1, 9), src: 'fd00:1:0:2::2',
    dst: 'fd00:1:0:1::2' });
  const r = encap(big, [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, 60, 1400, 40, 16]);
  assert.equal(r.frames.length, 0);
  assert.ok(r.batch.sendCount > 0);
  // A TSO6 read without the checksum offsets cannot be segmented by the kernel: it is cut here instead.
  const p = tcp6Packet({ payload: randomBytes(4000, 4), src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2' });
  const s = encap(p, [0, VNET_HDR_GSO_TCPV6, 60, 1400, 0, 0]);
  assert.equal(s.frames.length, 0);
  assert.ok(s.batch.sendCount > 0);
});

test('the IPv6 TAP is gso6.<VNI>, within IFNAMSIZ', () => {
  assert.equal(tunnelTap6Name('flannel-v6.1'), 'gso6.1');
  assert.equal(tunnelTap6Name('flannel-v6.16777215'), 'gso6.16777215');
  assert.ok(tunnelTap6Name('a-very-long-tun-name').length <= 15);
});

test('the send-path choice travels in the IPv6 handover; one from an older version means auto; a bad one is named', () => {
  const loops = { vni: 1, port: 4789, ownMac: '02:00:00:00:00:01', localIP6: LOCAL, network: NETWORK, subnetLen: 64,
    innerMtu: 1430, outerMtu: 1500, spinMicros: null, fifoPriority: null, allowForeignSource: false,
    sendPath: 'segment' as const };
  const enc = JSON.parse(JSON.stringify(encodeLoops6({ loops, peers: [] }))) as { loops: Record<string, unknown> };
  const back = decodeLoops6(enc);
  assert.ok('loops' in back);
  assert.equal(back.loops.sendPath, 'segment');
  delete enc.loops.sendPath;
  const old = decodeLoops6(enc);
  assert.ok('loops' in old && old.loops.sendPath === null);
  enc.loops.sendPath = 'fast';
  const bad = decodeLoops6(enc);
  assert.ok('field' in bad && bad.field === 'loops6.loops');
});

test('a single TCP packet too large for one outer IPv6 datagram goes as a TSO6 frame of segments that fit', () => {
  // FLANNEL_MTU = 1450 inner bytes + 70 of outer IPv6/UDP/VXLAN = 1520 > 1500, and forwarded IPv6 is not fragmented.
  const packet = tcp6Packet({ payload: randomBytes(1450 - 60, 11), flags: TCP_ACK | TCP_PSH, src: 'fd00:1:0:2::2',
    dst: 'fd00:1:0:1::2' });
  const { frames, batch } = encap(packet, [VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 40, 16]);
  assert.equal(batch.sendCount, 0);
  const f = frames[0]!;
  assert.equal(f[1], VNET_HDR_GSO_TCPV6 | VNET_HDR_GSO_UDP_TUNNEL_IPV6);
  const segs = kernelSegments(f);
  assert.equal(segs.length, 2);
  for (const s of segs) assert.ok(s.length <= 1500 && outerUdpValid(s) && checksum6Valid(s.subarray(70)));
  // Not partial, or not TCP: the socket way (which fragments at the source).
  const whole = encap(packet, [0, 0, 0, 0, 0, 0]);
  assert.equal(whole.frames.length, 0);
  assert.equal(whole.batch.sendCount, 1);
});
