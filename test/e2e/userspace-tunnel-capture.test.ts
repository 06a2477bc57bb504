// What the kernel puts on the wire for the frames of the tunnel-GSO send path, decoded from a capture: a userspace
// node (send path tunnel-gso) beside a kernel VXLAN node, with the sender's underlay offloads off (a NIC without
// any), so the kernel segments each TAP frame and completes every checksum before the wire. AF_PACKET sockets
// (support/agents/packet-capture.ts) record the packets queued to flannel.1 (what the loop read) and the VXLAN
// frames that left eth0; every frame shape the loop emits must come out as correct VXLAN datagrams carrying the
// read's bytes. With TSFLANNELD_CAPTURE_FIXTURE=<file> the run also writes the fixture the unit test
// (test/unit/datapath-tunnel-gso.test.ts) checks its model of the kernel against.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { missingPrerequisite, tunnelGsoUnavailable } from '../support/prerequisites.js';
import { buildPodPair, configureKernelVxlan, destroyPodPair, podPairHosts, startAgent, stopAgent } from '../support/pod-pair.js';
import { pingOnce, sendUdpOnce, tcpTransfer } from '../support/traffic.js';
import { checksumsValid, naiveChecksum } from '../support/datapath-packets.js';
import {
  decodeWireVxlan, hasPartialSeed, hex, pairSegments, readCapture, tcpPayloadLength, underlayOffloadsOff, unhex,
  writeCaptureFixture, type CaptureCase, type WireVxlan,
} from '../support/vxlan-capture.js';
import type { NodeSpec } from '../support/agents/userspace-vxlan-node.js';

const TAG = randomBytes(2).toString('hex');
const AGENTS = path.join(__dirname, '..', 'support', 'agents');
const [A, B] = podPairHosts('tk', TAG, '00');
const agents = new Set<ChildProcessWithoutNullStreams>();
const skip = missingPrerequisite({ tun: true, commands: ['ethtool', 'ping'] }) ?? tunnelGsoUnavailable();

const shapeOf = (t: Uint8Array, segments: number): string => {
  const ihl = (t[0]! & 15) * 4;
  if (t[9] === 1) return 'icmp';
  if (t[9] === 17) return hasPartialSeed(t) ? 'udp-partial' : 'udp';
  const flags = t[ihl + 13]!;
  if (segments > 1) return (flags & 0x01) !== 0 ? 'tcp-tso-fin' : 'tcp-tso';
  if ((flags & 0x02) !== 0) return 'tcp-syn';
  return tcpPayloadLength(t) > 0 ? 'tcp-data' : 'tcp-ack';
};

/** The virtio header the TUN read carried, as far as the capture shows it (see CaptureCase). */
function vnetOf(t: Uint8Array, segs: readonly WireVxlan[]): CaptureCase['vnet'] {
  const ihl = (t[0]! & 15) * 4;
  const csumOffset = t[9] === 6 ? 16 : 6;
  if (segs.length > 1) {
    const ecn = (t[ihl + 13]! & 0x80) !== 0 ? 0x80 : 0;
    return [1, 1 | ecn, ihl + (t[ihl + 12]! >> 4) * 4, tcpPayloadLength(segs[0]!.inner), ihl, csumOffset];
  }
  return hasPartialSeed(t) ? [1, 0, 0, 0, ihl, csumOffset] : [0, 0, 0, 0, 0, 0];
}

describe('tunnel-GSO frames as the kernel puts them on the wire', { skip: skip ?? false, timeout: 180_000 }, () => {
  const out = path.join(os.tmpdir(), `tsflanneld-capture-${TAG}.json`);

  before(async () => {
    await buildPodPair([A, B], `tk${TAG}`);
    await underlayOffloadsOff(A.ns);
  });

  after(async () => {
    rmSync(out, { force: true });
    await destroyPodPair([A, B], agents);
  });

  it('every shape the loop sends leaves as VXLAN datagrams with correct checksums and the read\'s bytes', async () => {
    const spec: NodeSpec = {
      device: 'flannel.1', vni: 1, port: 8472, mac: A.mac, localIP: A.ip, network: '10.244.0.0/16', subnetLen: 24,
      ownSubnet: A.subnet, mtu: 1450, peers: [{ subnet: B.subnet, publicIP: B.ip, mac: B.mac }], sendPath: 'tunnel-gso',
    };
    const node = await startAgent(agents, A.ns, path.join(AGENTS, 'userspace-vxlan-node.js'), spec);
    assert.match(node.output(), /^send-path tunnel-gso$/m);
    await configureKernelVxlan(B, A);
    assert.ok(await pingOnce(A.pod, B.podIP), 'ping before the capture');
    const cap = await startAgent(agents, A.ns, path.join(AGENTS, 'packet-capture.js'), { devices: ['eth0', 'flannel.1'], out });
    assert.ok(await pingOnce(A.pod, B.podIP), 'ping');
    await sendUdpOnce(A.pod, B.podIP, 300);
    const r = await tcpTransfer(A.pod, B.pod, B.podIP, 20_000);
    assert.equal(r.receivedSha256, r.sentSha256, 'TCP bytes');
    assert.ok(((await stopAgent(agents, cap.proc))['frames'] ?? 0) > 0, 'frames captured');
    const counters = await stopAgent(agents, node.proc);
    assert.ok((counters['tx_tunnel_frames'] ?? 0) > 0, 'frames went through the TAP');

    const frames = readCapture(out);
    const tun = frames.filter((f) => f.dev === 'flannel.1').map((f) => unhex(f.hex))
      .filter((p) => p[0]! >> 4 === 4 && p.subarray(12, 16).join('.') === A.podIP);
    const wire = frames.filter((f) => f.dev === 'eth0').map((f) => decodeWireVxlan(unhex(f.hex)))
      .filter((w): w is WireVxlan => w !== null && w.srcIP === A.ip);
    const pairs = pairSegments(tun, wire);
    assert.ok(pairs.length > 0, `no TUN read matched its wire frames (${tun.length} reads, ${wire.length} frames)`);

    const cases = new Map<string, CaptureCase>();
    for (const { tun: t, wire: segs } of pairs) {
      const shape = shapeOf(t, segs.length);
      const ihl = (t[0]! & 15) * 4;
      const headers = (q: Uint8Array): number => ihl + (q[9] === 6 ? (q[ihl + 12]! >> 4) * 4 : q[9] === 17 ? 8 : 0);
      const hlen = headers(t);
      let offset = hlen;
      for (const [i, w] of segs.entries()) {
        const what = `${shape} segment ${i + 1}/${segs.length}`;
        assert.ok(w.outerIpChecksumOk, `${what}: outer IPv4 checksum`);
        assert.equal(w.udpChecksum, 0, `${what}: outer UDP checksum 0, as flannel's kernel device sends`);
        assert.equal(w.udpLength, w.frame.length - 34, `${what}: UDP length`);
        assert.deepEqual([w.dstIP, w.dstPort, w.vxlanFlags, w.vni], [B.ip, 8472, 0x08, 1], `${what}: VXLAN to the peer`);
        assert.equal(w.df, false, `${what}: no DF`);
        assert.equal(w.srcPort, segs[0]!.srcPort, `${what}: one outer source port per frame`);
        assert.equal(hex(w.innerEth), `${B.mac}${A.mac}0800`.replace(/:/g, ''), `${what}: inner Ethernet`);
        const inner = w.inner;
        assert.equal(naiveChecksum(inner.subarray(0, ihl)), 0, `${what}: inner IPv4 checksum`);
        if (t[9] !== 1) assert.ok(checksumsValid(inner), `${what}: inner ${t[9] === 6 ? 'TCP' : 'UDP'} checksum complete`);
        const body = inner.subarray(headers(inner));
        assert.equal(hex(body), hex(t.subarray(offset, offset + body.length)), `${what}: payload bytes of the read`);
        offset += body.length;
        if (i > 0) assert.ok(body.length <= tcpPayloadLength(segs[0]!.inner), `${what}: no larger than the first`);
      }
      assert.equal(offset, t.length, `${shape}: every byte of the read on the wire`);
      if (!cases.has(shape)) cases.set(shape, { shape, vnet: vnetOf(t, segs), tun: hex(t), wire: segs.map((w) => hex(w.frame)) });
    }
    for (const s of ['icmp', 'udp-partial', 'tcp-syn']) assert.ok(cases.has(s), `shape ${s} captured: ${[...cases.keys()]}`);
    assert.ok(cases.has('tcp-tso') || cases.has('tcp-tso-fin'), `a TSO frame segmented on the wire: ${[...cases.keys()]}`);

    writeCaptureFixture('TSFLANNELD_CAPTURE_FIXTURE', {
      note: 'written by test/e2e/userspace-tunnel-capture.test.ts (TSFLANNELD_CAPTURE_FIXTURE): per shape, the packet ' +
        'the loop read from flannel.1 and the VXLAN frames kernel 6.18 sent for it with tunnel segmentation off',
      cases: [...cases.values()],
    });
  });
});
