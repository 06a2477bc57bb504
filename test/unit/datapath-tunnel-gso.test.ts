// The tunnel-GSO send path without a kernel: the frame EncapBatch queues for the TAP for every packet shape the
// loop reads from the TUN (its 24-byte virtio tunnel header, outer Ethernet/IPv4/UDP, VXLAN prefix, inner packet),
// a model of the kernel's segmentation of it that must give valid segments, and the send-path choice.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { EncapBatch, encapSlabLayout, TUN_READ_HEADROOM } from '../../src/datapath/encap.js';
import { PeerTable } from '../../src/datapath/peer-table.js';
import { selectSendPath, tunnelTapName } from '../../src/datapath/send-path.js';
import { MAX_TUNNEL_INNER_LEN, TUNNEL_ROOM, tunnelSourcePort } from '../../src/datapath/tunnel-frame.js';
import {
  VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_TCPV4, VNET_HDR_GSO_UDP_TUNNEL_IPV4, writeVnetHdr,
} from '../../src/datapath/virtio-hdr.js';
import { macBytes } from '../../src/datapath/wire.js';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import { parseOptions } from '../../src/options.js';
import { warmUpDatapath } from '../../src/datapath/warm-up.js';
import { DEFAULT_SPIN_MICROS, defaultSpinMicros } from '../../src/datapath/userspace-datapath.js';
import { spinAfterWake } from '../../src/datapath/datapath-options.js';
import {
  checksumsValid, naiveChecksum, randomBytes, TCP_ACK, TCP_FIN, TCP_PSH, tcpPacket, udpPacket, withPartialSeed,
} from '../support/datapath-packets.js';
import { hex, unhex, type CaptureFixture } from '../support/vxlan-capture.js';

const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER_MAC = macBytes('02:00:00:00:00:02');
const TAP_MAC = macBytes('0a:11:22:33:44:55');
const LOCAL_IP = parseIPv4('192.0.2.1')!;
const PEER_IP = parseIPv4('192.0.2.2')!;
const SLOT = 65536 + 128;
const TCP_CWR = 0x80;
type Vnet = [number, number, number, number, number, number];

interface TapFrame {
  hdr: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number;
    numBuffers: number; outerTh: number; innerNh: number };
  frame: Uint8Array;
}

function encap(packets: { pkt: Uint8Array; vnet?: Vnet }[]) {
  const layout = encapSlabLayout(4, SLOT, 4);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(4);
  const batch = new EncapBatch(slab, SLOT, layout.outStart, layout.outEnd, layout.icmpStart, 4, 256,
    { tapMac: TAP_MAC, srcMac: OWN_MAC, localIP: LOCAL_IP, port: 8472 });
  assert.equal(batch.readHeadroom, TUNNEL_ROOM + TUN_READ_HEADROOM);
  packets.forEach(({ pkt, vnet }, i) => {
    writeVnetHdr(slab, i * SLOT + batch.readHeadroom, ...(vnet ?? [0, 0, 0, 0, 0, 0]));
    slab.set(pkt, i * SLOT + batch.readHeadroom + 10);
    lengths[i] = pkt.length + 10;
  });
  const peers = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  peers.set(parseIPv4('10.244.2.0')!, PEER_IP, PEER_MAC);
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  batch.encapsulate({ vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.from([11]) }, peers, lengths, packets.length, counters);
  const frames: TapFrame[] = [];
  for (let i = 0; i < batch.tapCount; i++) {
    const b = slab.slice(batch.tapOffsets[i]!, batch.tapOffsets[i]! + batch.tapLengths[i]!);
    const dv = new DataView(b.buffer);
    frames.push({
      hdr: { flags: b[0]!, gsoType: b[1]!, hdrLen: dv.getUint16(2, true), gsoSize: dv.getUint16(4, true),
        csumStart: dv.getUint16(6, true), csumOffset: dv.getUint16(8, true), numBuffers: dv.getUint16(10, true),
        outerTh: dv.getUint16(20, true), innerNh: dv.getUint16(22, true) },
      frame: b.subarray(24),
    });
  }
  return { frames, sends: batch.sendCount, counters };
}

/** Checks the outer headers and the VXLAN prefix; returns the inner IPv4 packet. */
function checkOuter(f: Uint8Array): Uint8Array {
  const dv = new DataView(f.buffer, f.byteOffset);
  assert.deepEqual([...f.subarray(0, 6)], [...TAP_MAC], 'outer destination: the TAP itself');
  assert.deepEqual([...f.subarray(6, 12)], [...OWN_MAC]);
  assert.equal(dv.getUint16(12), 0x0800);
  const ip = f.subarray(14, 34);
  assert.equal(ip[0], 0x45);
  assert.equal(naiveChecksum(ip), 0, 'outer IPv4 header checksum');
  assert.equal(dv.getUint16(16), f.length - 14, 'outer total length');
  assert.equal(ip[6]! & 0x40, 0, 'no DF, as the kernel VXLAN device');
  assert.equal(ip[8], 64);
  assert.equal(ip[9], 17);
  assert.equal(dv.getUint32(26), LOCAL_IP);
  assert.equal(dv.getUint32(30), PEER_IP);
  const sport = dv.getUint16(34);
  assert.ok(sport >= 32768 && sport <= 60999);
  assert.equal(dv.getUint16(36), 8472);
  assert.equal(dv.getUint16(38), f.length - 34, 'UDP length');
  assert.equal(dv.getUint16(40), 0, 'outer UDP checksum 0');
  assert.deepEqual([...f.subarray(42, 64)], [8, 0, 0, 0, 0, 0, 1, 0, ...PEER_MAC, ...OWN_MAC, 8, 0]);
  return f.subarray(64);
}

/**
 * What the kernel does with a frame and its header (a model, checked against the kernel's own output in the
 * capture fixture below, and in e2e by real transfers): complete the partial checksum at csum_start, or for GSO cut
 * the inner TCP payload into gso_size segments, each with its own IP length, id, sequence number and checksums.
 * Returns the inner packets that leave.
 */
function kernelModel(t: TapFrame): Uint8Array[] {
  const { hdr, frame } = t;
  const inner = frame.subarray(hdr.innerNh || 64);
  const complete = (p: Uint8Array): Uint8Array => {
    const q = p.slice();
    const ihl = (q[0]! & 15) * 4;
    const off = ihl + (q[9] === 6 ? 16 : 6);
    q[10] = q[11] = 0;
    const ipc = naiveChecksum(q.subarray(0, ihl));
    q[10] = ipc >> 8;
    q[11] = ipc & 255;
    q[off] = q[off + 1] = 0;
    const pseudo = new Uint8Array(12 + q.length - ihl);
    pseudo.set(q.subarray(12, 20), 0);
    pseudo[9] = q[9]!;
    pseudo[10] = (q.length - ihl) >> 8;
    pseudo[11] = (q.length - ihl) & 255;
    pseudo.set(q.subarray(ihl), 12);
    let c = naiveChecksum(pseudo);
    if (q[9] === 17 && c === 0) c = 0xffff;
    q[off] = c >> 8;
    q[off + 1] = c & 255;
    return q;
  };
  if (!(hdr.gsoType & VNET_HDR_GSO_TCPV4)) {
    return [hdr.flags & VNET_HDR_F_NEEDS_CSUM ? complete(inner) : inner.slice()];
  }
  const hlen = hdr.hdrLen - hdr.innerNh;
  const ihl = (inner[0]! & 15) * 4;
  const seq0 = new DataView(inner.buffer, inner.byteOffset).getUint32(ihl + 4);
  const out: Uint8Array[] = [];
  const payload = inner.subarray(hlen);
  for (let o = 0; o < payload.length; o += hdr.gsoSize) {
    const part = payload.subarray(o, Math.min(payload.length, o + hdr.gsoSize));
    const seg = new Uint8Array(hlen + part.length);
    seg.set(inner.subarray(0, hlen));
    seg.set(part, hlen);
    const dv = new DataView(seg.buffer);
    dv.setUint16(2, seg.length);
    dv.setUint16(4, (dv.getUint16(4) + o / hdr.gsoSize) & 0xffff); // the capture showed: ids run on per segment
    dv.setUint32(ihl + 4, (seq0 + o) >>> 0);
    if (o + hdr.gsoSize < payload.length) seg[ihl + 13] = seg[ihl + 13]! & ~(TCP_FIN | TCP_PSH);
    if (o > 0) seg[ihl + 13] = seg[ihl + 13]! & ~TCP_CWR;
    out.push(complete(seg));
  }
  return out;
}

test('a TSO frame becomes one TAP frame: GSO_TCPV4 | UDP_TUNNEL_IPV4, the MSS, offsets from the outer Ethernet', () => {
  const payload = randomBytes(60000, 7);
  const original = tcpPacket({ payload, flags: TCP_ACK | TCP_PSH, options: new Uint8Array(12) });
  const { frames, sends, counters } = encap([{ pkt: withPartialSeed(original),
    vnet: [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, 52, 1398, 20, 16] }]);
  assert.equal(sends, 0, 'nothing segmented in userspace');
  assert.equal(frames.length, 1);
  const { hdr, frame } = frames[0]!;
  assert.deepEqual(hdr, { flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_UDP_TUNNEL_IPV4,
    hdrLen: 64 + 52, gsoSize: 1398, csumStart: 64 + 20, csumOffset: 16, numBuffers: 0, outerTh: 34, innerNh: 64 });
  assert.deepEqual(checkOuter(frame), withPartialSeed(original), 'the inner packet is the TUN read, unchanged');
  const segments = kernelModel(frames[0]!);
  assert.equal(segments.length, Math.ceil(60000 / 1398));
  let bytes = 0;
  for (const s of segments) {
    assert.ok(checksumsValid(s));
    bytes += s.length - 52;
  }
  assert.equal(bytes, payload.length);
  assert.equal(counters[C.tx_tunnel_frames], 1);
  assert.equal(counters[C.tx_packets], segments.length);
});

test('a TSO frame with ECN keeps the ECN bit in the tunnel gso_type', () => {
  const pkt = withPartialSeed(tcpPacket({ payload: randomBytes(5000, 8) }));
  const { frames } = encap([{ pkt, vnet: [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN, 40, 1400, 20, 16] }]);
  assert.equal(frames[0]!.hdr.gsoType, VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_UDP_TUNNEL_IPV4 | VNET_HDR_GSO_ECN);
});

test('single packets go as one frame each: partial checksums left to the kernel, complete ones untouched', () => {
  const ack = tcpPacket({ payload: new Uint8Array(0) });
  const udp = udpPacket(randomBytes(51, 9));
  const data = tcpPacket({ payload: randomBytes(1398, 10) });
  const icmp = new Uint8Array(84);
  icmp.set([0x45, 0, 0, 84, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 244, 1, 2, 10, 244, 2, 2, 8, 0]);
  const { frames, sends } = encap([
    { pkt: withPartialSeed(ack), vnet: [VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 16] },
    { pkt: withPartialSeed(udp), vnet: [VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 6] },
    { pkt: data },
    { pkt: icmp },
  ]);
  assert.equal(sends, 0);
  assert.equal(frames.length, 4);
  const none = { gsoType: 0, hdrLen: 0, gsoSize: 0, numBuffers: 0, outerTh: 0, innerNh: 0 };
  assert.deepEqual(frames[0]!.hdr, { ...none, flags: VNET_HDR_F_NEEDS_CSUM, csumStart: 84, csumOffset: 16 });
  assert.deepEqual(frames[1]!.hdr, { ...none, flags: VNET_HDR_F_NEEDS_CSUM, csumStart: 84, csumOffset: 6 });
  assert.deepEqual(frames[2]!.hdr, { ...none, flags: 0, csumStart: 0, csumOffset: 0 });
  assert.deepEqual(frames[3]!.hdr, { ...none, flags: 0, csumStart: 0, csumOffset: 0 });
  assert.deepEqual(kernelModel(frames[0]!)[0], ack);
  assert.deepEqual(kernelModel(frames[1]!)[0], udp);
  assert.deepEqual(checkOuter(frames[2]!.frame), data);
  assert.deepEqual(checkOuter(frames[3]!.frame), icmp);
});

test('one flow keeps one outer source port; the port follows the inner flow hash', () => {
  const a = tcpPacket({ payload: randomBytes(10, 11), sport: 40001 });
  const b = tcpPacket({ payload: randomBytes(20, 12), sport: 40001, seq: 2000 });
  const { frames } = encap([{ pkt: a }, { pkt: b }]);
  const port = (f: TapFrame): number => (f.frame[34]! << 8) | f.frame[35]!;
  assert.equal(port(frames[0]!), port(frames[1]!));
  assert.equal(tunnelSourcePort(0), 32768);
  assert.equal(tunnelSourcePort(0xffffffff), 32768 + (0xffffffff % 28232));
});

test('a packet too large for one outer IPv4 packet is segmented and sent the other way', () => {
  const pkt = withPartialSeed(tcpPacket({ payload: randomBytes(MAX_TUNNEL_INNER_LEN - 40 + 1, 13) }));
  const { frames, sends, counters } = encap([{ pkt, vnet: [VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, 40, 1400, 20, 16] }]);
  assert.equal(frames.length, 0);
  assert.ok(sends >= 1);
  assert.equal(counters[C.tx_tso_frames], 1);
});

test('selectSendPath: segment never probes; auto falls back with the reason; tunnel-gso demands it', () => {
  let probes = 0;
  const ok = (): null => { probes++; return null; };
  const fail = (): string => { probes++; return 'the kernel refused it'; };
  assert.deepEqual(selectSendPath('segment', ok), { path: 'segment', fallbackReason: null });
  assert.equal(probes, 0);
  assert.deepEqual(selectSendPath('auto', ok), { path: 'tunnel-gso', fallbackReason: null });
  assert.deepEqual(selectSendPath('auto', fail), { path: 'segment', fallbackReason: 'the kernel refused it' });
  assert.deepEqual(selectSendPath('tunnel-gso', ok), { path: 'tunnel-gso', fallbackReason: null });
  assert.throws(() => selectSendPath('tunnel-gso', fail), /--vxlan-send-path=tunnel-gso cannot run here: the kernel refused it; use/);
  assert.equal(probes, 4);
});

test('the TAP of the tunnel-GSO path is named after the TUN and fits IFNAMSIZ', () => {
  assert.equal(tunnelTapName('flannel.1'), 'flannel.1-gso');
  assert.ok(tunnelTapName('flannel.16777215').length <= 15);
});

test('--vxlan-send-path: auto by default, the three values, a bad one named with the accepted ones', () => {
  assert.equal(parseOptions([], {}).vxlanSendPath, 'auto');
  assert.equal(parseOptions(['--vxlan-send-path=segment'], {}).vxlanSendPath, 'segment');
  assert.equal(parseOptions([], { FLANNELD_VXLAN_SEND_PATH: 'tunnel-gso' }).vxlanSendPath, 'tunnel-gso');
  assert.throws(() => parseOptions(['--vxlan-send-path=fast'], {}),
    { message: 'invalid --vxlan-send-path "fast": expected auto, tunnel-gso or segment' });
});

test('the JIT warm-up of a loop on the tunnel-GSO path runs its frame writers (TSO frames and single packets)', () => {
  const network = parseCidr('10.244.0.0/16')!;
  const counters = warmUpDatapath({
    network, subnetLen: 24,
    encap: { vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.from([11]) },
    decap: { vni: 1, ownMac: OWN_MAC, innerMtu: 1450, coalesce: true, allowForeignSource: false },
    tunnel: { tapMac: TAP_MAC, srcMac: OWN_MAC, localIP: LOCAL_IP, port: 8472 },
  }, 224, 2);
  assert.ok(counters[C.tx_tunnel_frames]! > 0);
  assert.equal(counters[C.tx_tso_frames], 0, 'TSO frames go to the TAP whole');
  assert.ok(counters[C.rx_packets]! > 0);
});

test('--vxlan-loop-priority: 0 by default, 1..99 accepted; a FIFO loop does not spin by default', () => {
  assert.equal(parseOptions([], {}).vxlanLoopPriority, 0);
  assert.equal(parseOptions(['--vxlan-loop-priority=10'], {}).vxlanLoopPriority, 10);
  assert.throws(() => parseOptions(['--vxlan-loop-priority=100'], {}), { message: /^invalid --vxlan-loop-priority "100"/ });
  assert.equal(defaultSpinMicros({ fifoPriority: 10 }), 0);
  assert.equal(defaultSpinMicros({ nice: -5 }), DEFAULT_SPIN_MICROS);
  assert.equal(defaultSpinMicros(undefined), DEFAULT_SPIN_MICROS);
});

test('the loop spins after a wake-up that only sent; never after one that received datagrams', () => {
  const wake = (tunPackets: number, datagrams: number): number => tunPackets | (datagrams << 8);
  assert.equal(spinAfterWake(wake(1, 0), 200), 200, 'a ping sent: wait awake for the reply');
  assert.equal(spinAfterWake(wake(16, 0), 200), 200);
  assert.equal(spinAfterWake(wake(0, 3), 200), 0, 'data written to the TUN: its ACKs are already queued');
  assert.equal(spinAfterWake(wake(2, 1), 200), 0);
  assert.equal(spinAfterWake(0, 200), 0, 'nothing came');
  assert.equal(spinAfterWake(wake(1, 0), 0), 0, 'spin off stays off');
});

/** The frames kernelModel's segments leave as: the TAP frame's outer headers with each segment's lengths and ids. */
function kernelWire(t: TapFrame): Uint8Array[] {
  const outer = t.frame.subarray(0, 64);
  const id0 = (outer[18]! << 8) | outer[19]!;
  return kernelModel(t).map((inner, i) => {
    const f = new Uint8Array(64 + inner.length);
    f.set(outer);
    f.set(inner, 64);
    const dv = new DataView(f.buffer);
    dv.setUint16(16, f.length - 14);
    dv.setUint16(18, (id0 + i) & 0xffff);
    dv.setUint16(24, 0);
    dv.setUint16(24, naiveChecksum(f.subarray(14, 34)));
    dv.setUint16(38, f.length - 34);
    return f;
  });
}

const FIXTURE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'tunnel-gso-capture.json');

test('every captured shape: our TAP frame, segmented as modelled, is byte for byte what the kernel sent', () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as CaptureFixture;
  const shapes = fixture.cases.map((c) => c.shape);
  for (const s of ['icmp', 'udp-partial', 'tcp-syn']) assert.ok(shapes.includes(s), `fixture has ${s}`);
  assert.ok(shapes.some((s) => s.startsWith('tcp-tso')), 'fixture has a TSO frame');
  for (const c of fixture.cases) {
    const { frames, sends } = encap([{ pkt: unhex(c.tun), vnet: c.vnet }]);
    assert.equal(sends, 0, `${c.shape}: nothing sent the segment way`);
    assert.equal(frames.length, 1, `${c.shape}: one TAP frame`);
    const model = kernelWire(frames[0]!);
    assert.equal(model.length, c.wire.length, `${c.shape}: segment count`);
    const ids = c.wire.map((w) => { const b = unhex(w); return (b[18]! << 8) | b[19]!; });
    c.wire.forEach((w, i) => {
      const got = unhex(w);
      assert.equal(ids[i], (ids[0]! + i) & 0xffff, `${c.shape} ${i}: outer IPv4 ids run on per segment`);
      assert.equal(got[22], 63, `${c.shape} ${i}: forwarded once (TTL 64 − 1)`);
      // What the host changes when it routes the frame from the TAP to the underlay: MACs, TTL, so the checksum;
      // and our outer id counter is not the loop's at capture time.
      const norm = got.slice();
      norm.set(model[i]!.subarray(0, 12));
      norm[22] = 64;
      norm[18] = model[i]![18]!;
      norm[19] = model[i]![19]!;
      norm[24] = norm[25] = 0;
      const csum = naiveChecksum(norm.subarray(14, 34));
      norm[24] = csum >> 8;
      norm[25] = csum & 255;
      assert.equal(hex(model[i]!), hex(norm), `${c.shape} segment ${i + 1}/${c.wire.length}`);
    });
  }
});
