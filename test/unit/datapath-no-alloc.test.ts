// The datapath's house rule, "no per-packet allocation": each batch function a loop thread calls per wake-up
// (encapsulate for both send paths, receive, for IPv4, IPv6 and the udp framing), run over a prebuilt batch many
// times after a warm-up, must not grow the young generation. One boxed number per packet (16 bytes) would grow it by
// tens of bytes per batch; the bound is 1 byte per batch, and no collection may run while the batches do. The
// addresses are the kind that are no small integers (Network 172.16.0.0/12, underlay 192.0.2.0/24): a value above
// 2^31 is a heap number wherever it crosses a call V8 did not inline. The native calls of a wake-up are held to the
// same bound per call.
import * as fs from 'node:fs';
import test from 'node:test';
import assert from 'node:assert/strict';
import { useRangeSum } from '../../src/datapath/checksum.js';
import { COUNTER_INDEX as C } from '../../src/datapath/counters.js';
import { DecapBatch, type DecapConfig } from '../../src/datapath/decap.js';
import { Decap6Batch } from '../../src/datapath/decap6.js';
import { EncapBatch, encapSlabLayout, type EncapConfig } from '../../src/datapath/encap.js';
import { Encap6Batch, TUN6_READ_HEADROOM, VNET_HDR_GSO_TCPV6 } from '../../src/datapath/encap6.js';
import { checksumNative, loopWaitIo, tunIo, wakeIo } from '../../src/datapath/native.js';
import { PeerTable6, ip6Words } from '../../src/datapath/peer-table6.js';
import { TUNNEL_ROOM, type TunnelConfig } from '../../src/datapath/tunnel-frame.js';
import { TUNNEL6_ROOM, type Tunnel6Config } from '../../src/datapath/tunnel-frame6.js';
import { UdpDecap, UDP_RX_GAP, UDP_RX_SLOT, udpRxSlab } from '../../src/datapath/udp-decap.js';
import { UdpEncapBatch } from '../../src/datapath/udp-encap.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE, VNET_HDR_LEN, writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { TRAFFIC_SHAPES } from '../../src/datapath/warm-up-traffic.js';
import { PEER_PUBLIC_IP, warmUpDatapath, warmUpScene } from '../../src/datapath/warm-up.js';
import { macBytes } from '../../src/datapath/wire.js';
import { formatIPv4, parseCidr } from '../../src/net/ipv4.js';
import { parseCidr6, requireIPv6 } from '../../src/net/ipv6.js';
import { allocationPerRun } from '../support/alloc-meter.js';
import {
  concat, randomBytes, TCP_ACK, TCP_PSH, tcpPacket, udpPacket, vxlanFrame,
} from '../support/datapath-packets.js';
import { tcp6Packet } from '../support/datapath-packets6.js';

const RUNS = 5000;
/** Bytes per batch: far below one 16-byte heap number per packet (every batch here has 3 to 8 packets). */
const MAX_BYTES_PER_BATCH = 1;

useRangeSum(checksumNative().checksumSum);

async function assertNoAllocation(name: string, batch: () => void, sent: () => number): Promise<void> {
  const before = sent();
  const { bytesPerRun, collections } = await allocationPerRun(batch, RUNS);
  assert.ok(sent() > before, `${name}: the batches carried packets`);
  assert.equal(collections, 0, `${name}: no collection while ${RUNS} batches ran`);
  assert.ok(bytesPerRun <= MAX_BYTES_PER_BATCH,
    `${name}: the young generation grew by ${bytesPerRun.toFixed(2)} bytes per batch (at most ${MAX_BYTES_PER_BATCH})`);
}

const NETWORK = parseCidr('172.16.0.0/12')!;
const SUBNET_LEN = 24;
const INNER_MTU = 1450;
const OWN_MAC = macBytes('02:00:00:00:00:01');
/** The warm-up scene's peer VtepMAC (warm-up.ts). */
const PEER_MAC = macBytes('02:00:00:00:00:02');

/** The IPv4 scene as a loop has it after its own warm-up: every shape of TRAFFIC_SHAPES in one batch. */
function scene4(tunnel: TunnelConfig | null) {
  const encapCfg: EncapConfig = { vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.of(5, 6) };
  const decapCfg: DecapConfig = { vni: 1, ownMac: OWN_MAC, innerMtu: INNER_MTU, coalesce: true,
    allowForeignSource: false };
  warmUpDatapath({ network: NETWORK, subnetLen: SUBNET_LEN, encap: encapCfg, decap: decapCfg,
    ...(tunnel ? { tunnel } : {}) }, 1000, 1);
  const s = warmUpScene(NETWORK, SUBNET_LEN, INNER_MTU);
  return { ...s, encapCfg, decapCfg, n: TRAFFIC_SHAPES.length };
}

for (const path of ['segment', 'tunnel-gso'] as const) {
  test(`IPv4 send (${path}): encapsulating a batch of every packet shape allocates nothing`, async () => {
    const tunnel: TunnelConfig | null = path === 'segment' ? null
      : { tapMac: macBytes('02:00:00:00:00:09'), srcMac: OWN_MAC, localIP: 0xc0000201, port: 8472 };
    const { counters, peers, dst, traffic, slotSize: trafficSlot, encapCfg, n } = scene4(tunnel);
    const readAt = tunnel === null ? 0 : TUNNEL_ROOM;
    const slotSize = trafficSlot + readAt;
    const layout = encapSlabLayout(n, slotSize, 4);
    const slab = new Uint8Array(layout.size);
    const lengths = new Int32Array(n);
    TRAFFIC_SHAPES.forEach((shape, i) => { lengths[i] = traffic.tunRead(slab, i * slotSize + readAt, shape, dst); });
    const reads = slab.slice(0, n * slotSize);
    const batch = new EncapBatch(slab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, 4, n * 64, tunnel);
    await assertNoAllocation(`IPv4 ${path}`, () => {
      slab.set(reads);
      batch.encapsulate(encapCfg, peers, lengths, n, counters);
    }, () => counters[C.tx_packets]!);
    assert.ok((path === 'segment' ? batch.sendCount : batch.tapCount) > 0, `the ${path} path queued the batch`);
  });
}

test('IPv4 receive: decapsulating a batch of datagrams, GRO trains and super-datagrams allocates nothing', async () => {
  const { counters, peers, traffic, src, dst, slotSize, decapCfg } = scene4(null);
  // Every shape of the warm-up's traffic, and a GRO train of 8 in-order full segments of one flow.
  const n = TRAFFIC_SHAPES.length + 1;
  const slab = new Uint8Array(n * slotSize);
  const lengths = new Int32Array(n);
  const gsoSizes = new Int32Array(n);
  const sources = new Uint32Array(n).fill(PEER_PUBLIC_IP);
  const out = { length: 0, gsoSize: 0 };
  TRAFFIC_SHAPES.forEach((shape, i) => {
    traffic.datagram(slab, i * slotSize, shape, decapCfg.vni, OWN_MAC, out);
    lengths[i] = out.length;
    gsoSizes[i] = out.gsoSize;
  });
  const train = trainOf(formatIPv4(dst), formatIPv4(src)).map((p) => vxlanFrame(p, decapCfg.vni, OWN_MAC, PEER_MAC));
  slab.set(concat(...train), (n - 1) * slotSize);
  lengths[n - 1] = train.reduce((sum, f) => sum + f.length, 0);
  gsoSizes[n - 1] = train[0]!.length;
  const received = slab.slice();
  const batch = new DecapBatch(slab, n * 64);
  await assertNoAllocation('IPv4 receive', () => {
    slab.set(received);
    batch.receive(decapCfg, peers, n, lengths, sources, gsoSizes, slotSize, counters);
  }, () => counters[C.rx_packets]!);
  assert.equal(counters[C.drop_unknown_source], 0);
  assert.ok(counters[C.rx_coalesced_frames]! > 0, 'the train was coalesced');
});

test('receive: a flood of frames for another VNI, both families, allocates nothing per dropped frame', async () => {
  const { counters, peers, dst, src, decapCfg } = scene4(null);
  const frames = Array.from({ length: 8 }, () =>
    vxlanFrame(tcpPacket({ src: formatIPv4(dst), dst: formatIPv4(src), payload: randomBytes(100) }), 99, OWN_MAC,
      PEER_MAC));
  const slab = concat(...frames);
  const lengths = Int32Array.of(slab.length);
  const gsoSizes = Int32Array.of(frames[0]!.length);
  const sources = Uint32Array.of(PEER_PUBLIC_IP);
  const batch = new DecapBatch(slab, 64);
  await assertNoAllocation('IPv4 wrong VNI', () => {
    batch.receive(decapCfg, peers, 1, lengths, sources, gsoSizes, slab.length, counters);
  }, () => counters[C.drop_bad_vni]!);
  const frames6 = Array.from({ length: 8 }, () => vxlanFrame(tcp6Packet({ src: 'fd00:1:0:1::2', dst: 'fd00:1:0:2::2',
    payload: randomBytes(100) }), 99, OWN_MAC, PEER6_MAC, 0x86dd));
  const slab6 = concat(...frames6);
  const batch6 = new Decap6Batch(slab6, 64);
  const peers6 = table6();
  const [lengths6, sources6, gsoSizes6] = [Int32Array.of(slab6.length), Uint32Array.from(PEER6_PUBLIC),
    Int32Array.of(frames6[0]!.length)];
  await assertNoAllocation('IPv6 wrong VNI', () => {
    batch6.receive(decapCfg, peers6, 1, lengths6, sources6, gsoSizes6, slab6.length, counters);
  }, () => counters[C.drop_bad_vni]!);
});

/** 8 in-order full TCP segments of one flow (sequence numbers past 2^31), the last with PSH. */
function trainOf(from: string, to: string): Uint8Array[] {
  return Array.from({ length: 8 }, (_, k) => tcpPacket({ src: from, dst: to, seq: 0xfff00000 + k * 1400,
    flags: k === 7 ? TCP_ACK | TCP_PSH : TCP_ACK, payload: randomBytes(1400, k + 1) }));
}

test('udp framing: sending and receiving a batch allocates nothing', async () => {
  const { counters, peers, traffic, src, dst, slotSize, decapCfg, n } = scene4(null);
  const sendFds = Int32Array.of(5, 6);
  const layout = encapSlabLayout(n, slotSize, 4);
  const txSlab = new Uint8Array(layout.size);
  const lengths = new Int32Array(n);
  TRAFFIC_SHAPES.forEach((shape, i) => { lengths[i] = traffic.tunRead(txSlab, i * slotSize, shape, dst); });
  const reads = txSlab.slice(0, n * slotSize);
  const tx = new UdpEncapBatch(txSlab, slotSize, layout.outStart, layout.outEnd, layout.icmpStart, 4, n * 64);
  await assertNoAllocation('udp send', () => {
    txSlab.set(reads);
    tx.frame(sendFds, peers, lengths, n, counters);
  }, () => counters[C.tx_packets]!);

  // From the peer's pod to ours: a GRO train of 8 full segments, a pure ACK, a UDP packet.
  const [from, to] = [formatIPv4(dst), formatIPv4(src)];
  const segments = trainOf(from, to);
  const datagrams = [concat(...segments), tcpPacket({ src: from, dst: to, payload: new Uint8Array(0) }),
    udpPacket(randomBytes(40), from, to)];
  const { whole, view } = udpRxSlab(datagrams.length);
  const rxLengths = Int32Array.from(datagrams, (d) => d.length);
  const gsoSizes = Int32Array.of(segments[0]!.length, 0, 0);
  const sources = new Uint32Array(datagrams.length).fill(PEER_PUBLIC_IP);
  datagrams.forEach((d, i) => view.set(d, i * UDP_RX_SLOT));
  const received = whole.slice();
  const rx = new UdpDecap(whole, datagrams.length);
  await assertNoAllocation('udp receive', () => {
    whole.set(received);
    rx.receive(decapCfg, peers, datagrams.length, rxLengths, sources, gsoSizes, counters);
  }, () => counters[C.rx_packets]!);
  assert.ok(counters[C.rx_coalesced_frames]! > 0 && UDP_RX_GAP >= VNET_HDR_LEN);
});

const NETWORK6 = parseCidr6('fd00:1::/48')!;
const PEER6_PUBLIC = ip6Words(requireIPv6('2001:db8::12'));
const PEER6_MAC = macBytes('02:00:00:00:00:02');

function table6(): PeerTable6 {
  const t = new PeerTable6(NETWORK6, 64);
  t.apply({ op: 'own', subnet: ip6Words(requireIPv6('fd00:1:0:2::')).slice(0, 2), prefixLen: 64 });
  t.apply({ op: 'set', subnet: ip6Words(requireIPv6('fd00:1:0:1::')).slice(0, 2), publicIP: PEER6_PUBLIC,
    mac: [...PEER6_MAC] });
  return t;
}

for (const path of ['segment', 'tunnel-gso'] as const) {
  test(`IPv6 send (${path}): encapsulating a TSO6 read, a small segment and a pure ACK allocates nothing`, async () => {
    const tunnel: Tunnel6Config | null = path === 'segment' ? null : { tapMac: macBytes('02:00:00:00:00:09'),
      srcMac: OWN_MAC, localIP6: Uint8Array.from(Buffer.from('20010db8000000000000000000000011', 'hex')), port: 8472 };
    const headroom = (tunnel === null ? 0 : TUNNEL6_ROOM) + TUN6_READ_HEADROOM;
    const packets = [60000, 200, 0].map((size, i) => tcp6Packet({ src: 'fd00:1:0:2::2', dst: 'fd00:1:0:1::2',
      seq: 0xfff00000 + i, payload: randomBytes(size, i + 1) }));
    const slotSize = 65536 + 64 + TUNNEL6_ROOM;
    const outStart = packets.length * slotSize;
    const outEnd = outStart + packets.length * (slotSize + 128 * 128);
    const slab = new Uint8Array(outEnd);
    const lengths = new Int32Array(packets.length);
    packets.forEach((p, i) => {
      const vnet = i * slotSize + headroom;
      if (i === 0) writeVnetHdr(slab, vnet, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV6, 60, 1390, 40, 16);
      else writeVnetHdr(slab, vnet, 0, VNET_HDR_GSO_NONE, 0, 0, 0, 0);
      slab.set(p, vnet + VNET_HDR_LEN);
      lengths[i] = VNET_HDR_LEN + p.length;
    });
    const reads = slab.slice(0, outStart);
    const batch = new Encap6Batch(slab, slotSize, outStart, outEnd, packets.length * 64, tunnel);
    const cfg = { vni: 1, ownMac: OWN_MAC, sendFds: Int32Array.of(5, 6), outerMtu: 1500 };
    const peers = table6();
    const counters = new Float64Array(C.tx_tap_write_failed + 1);
    await assertNoAllocation(`IPv6 ${path}`, () => {
      slab.set(reads);
      batch.encapsulate(cfg, peers, lengths, packets.length, counters);
    }, () => counters[C.tx_packets]!);
  });
}

test('IPv6 receive: decapsulating a GRO train and single packets allocates nothing', async () => {
  const frame = (p: Uint8Array): Uint8Array => vxlanFrame(p, 1, OWN_MAC, PEER6_MAC, 0x86dd);
  const pkt = (seq: number, size: number, flags = TCP_ACK): Uint8Array => tcp6Packet({ src: 'fd00:1:0:1::2',
    dst: 'fd00:1:0:2::2', seq, flags, payload: randomBytes(size, seq & 0xff) });
  const train = Array.from({ length: 8 }, (_, k) =>
    frame(pkt(0xfff00000 + k * 1380, 1380, k === 7 ? TCP_ACK | TCP_PSH : TCP_ACK)));
  const datagrams = [concat(...train), frame(pkt(7, 0)), frame(pkt(9, 100))];
  const slotSize = 65536 + 64;
  const slab = new Uint8Array(datagrams.length * slotSize);
  datagrams.forEach((d, i) => slab.set(d, i * slotSize));
  const received = slab.slice();
  const lengths = Int32Array.from(datagrams, (d) => d.length);
  const gsoSizes = Int32Array.of(train[0]!.length, 0, 0);
  const sources = Uint32Array.from(datagrams.flatMap(() => PEER6_PUBLIC));
  const batch = new Decap6Batch(slab, datagrams.length * 64);
  const cfg = { vni: 1, ownMac: OWN_MAC, innerMtu: INNER_MTU, coalesce: true, allowForeignSource: false };
  const peers = table6();
  const counters = new Float64Array(C.tx_tap_write_failed + 1);
  await assertNoAllocation('IPv6 receive', () => {
    slab.set(received);
    batch.receive(cfg, peers, datagrams.length, lengths, sources, gsoSizes, slotSize, counters);
  }, () => counters[C.rx_packets]!);
  assert.ok(counters[C.rx_coalesced_frames]! > 0);
});

// The native side of a wake-up: the addon returns small integers only and binds the loop's buffers once, so a call
// creates no JS value. Eventfds stand in for the TUN and the socket (nothing leaves the process); a write batch goes
// to /dev/null.
test('the native calls of a wake-up (loopWait idle and woken, writeBatch, checksumSum) allocate nothing', async () => {
  const [tunFd, udpFd, wakeFd] = [wakeIo().wakeFdOpen(), wakeIo().wakeFdOpen(), wakeIo().wakeFdOpen()];
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    const slots = 4;
    const io = loopWaitIo().loopIoOpen({ tunFd, udpFd, wakeFd, headroom: 12, txSlab: new Uint8Array(slots * 2048),
      txSlotSize: 2048, txLengths: new Int32Array(slots), rxSlab: new Uint8Array(slots * 2048), rxSlotSize: 2048,
      rxLengths: new Int32Array(slots), rxSources: new Uint32Array(slots), rxGsoSizes: new Int32Array(slots) });
    const slab = randomBytes(4096);
    const offsets = Int32Array.of(0, 1000, 2000);
    const lengths = Int32Array.of(600, 600, 600);
    let calls = 0;
    const count = (): number => calls;
    await assertNoAllocation('loopWait, idle', () => { calls += loopWaitIo().loopWait(io, 0, 0) + 1; }, count);
    await assertNoAllocation('loopWait, woken', () => {
      wakeIo().wakeFdSignal(wakeFd);
      calls += loopWaitIo().loopWait(io, 0, 0) + 1;
    }, count);
    await assertNoAllocation('writeBatch', () => {
      calls += tunIo().writeBatch(devNull, slab, offsets, lengths, 3);
    }, count);
    await assertNoAllocation('checksumSum', () => {
      calls += checksumNative().checksumSum(slab, 0, 1500) > 0 ? 1 : 0;
    }, count);
  } finally {
    for (const fd of [tunFd, udpFd, wakeFd]) tunIo().closeFd(fd);
    fs.closeSync(devNull);
  }
});
