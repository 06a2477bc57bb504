// What the kernel puts on the wire for the frames of the IPv6 half's tunnel-GSO send path (issue 22 / 17), decoded
// from a capture, as test/e2e/userspace-tunnel-capture.test.ts does for IPv4: an IPv6-only cluster over the
// 2001:db8::/64 underlay, tsflanneld's userspace datapath with --vxlan-send-path tunnel-gso on h1 beside its kernel
// VXLAN datapath on h2, and h1's underlay offloads off (a NIC without any), so the kernel segments each gso6.1 frame
// and completes every checksum before eth0. AF_PACKET sockets record the packets queued to flannel-v6.1 (what the
// loop read, with the virtio header the loop got: the TSO6 size is not in the packet) and the VXLAN frames that left
// eth0. Every shape the IPv6 loop sends (ICMPv6 echo, UDP with a partial checksum, TCP SYN, pure ACKs, small data,
// a TSO6 read, a full-sized single TCP packet too large for one outer datagram) must leave as VXLAN datagrams over
// IPv6 with a valid, non-zero outer UDP checksum, hop limit 63 (forwarded once from the TAP), segments within the
// underlay MTU at the clamped MSS, every inner checksum complete and the read's bytes in order. With
// TSFLANNELD_CAPTURE6_FIXTURE=<file> the run also writes the fixture test/unit/datapath-tunnel-gso6-capture.test.ts
// checks the frame builder and the model of the kernel against.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VNET_HDR_GSO_TCPV6 } from '../../src/datapath/virtio-hdr.js';
import { mustExec } from '../support/netns.js';
import { startAgent, stopAgent } from '../support/pod-pair.js';
import { testbedUnavailable, tunnelGsoUnavailable } from '../support/prerequisites.js';
import { addIpv6Underlay, ipv6RoutesReport, underlay6, waitForIpv6OnlyEnv } from '../support/ipv6-lab.js';
import { sendUdpOnce, tcpTransfer } from '../support/traffic.js';
import { checksum6Valid } from '../support/datapath-packets6.js';
import { hex, readCapture, underlayOffloadsOff, unhex, writeCaptureFixture, type CaptureCase } from '../support/vxlan-capture.js';
import {
  decodeWireVxlan6, headers6, NH_ICMPV6, NH_UDP, pairSegments6, payload6Length, srcOf6, tcp6Flags,
  WIRE6_OVERHEAD, type CaptureFixture6, type WireVxlan6,
} from '../support/vxlan-capture6.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';

const TAG = randomBytes(2).toString('hex');
const AGENTS = path.join(__dirname, '..', 'support', 'agents');
const NETWORK = 'fd00:63::/56';
const OUTER_MTU = 1500;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const skip = testbedUnavailable(['ethtool']) ?? tunnelGsoUnavailable();
const agents = new Set<ChildProcessWithoutNullStreams>();

type Vnet = CaptureCase['vnet'];

function shapeOf(t: Uint8Array, vnet: Vnet): string {
  if (t[6] === NH_ICMPV6) return 'icmp6';
  if (t[6] === NH_UDP) return (vnet[0] & 1) !== 0 ? 'udp-partial' : 'udp';
  if ((vnet[1] & VNET_HDR_GSO_TCPV6) !== 0) return (tcp6Flags(t) & TCP_FIN) !== 0 ? 'tcp-tso-fin' : 'tcp-tso';
  if (t.length + WIRE6_OVERHEAD > OUTER_MTU) return 'tcp-full';
  if ((tcp6Flags(t) & TCP_SYN) !== 0) return 'tcp-syn';
  return payload6Length(t) > 0 ? 'tcp-data' : 'tcp-ack';
}

const macOf = async (h: Host, dev: string): Promise<string> =>
  (JSON.parse(await mustExec(['ip', '-n', h.netns, '-j', 'link', 'show', dev])) as Array<{ address: string }>)[0]!.address;

describe('IPv6 tunnel-GSO frames as the kernel puts them on the wire', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;
  const out = path.join(os.tmpdir(), `tsflanneld-capture6-${TAG}.json`);

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: '/coreos.com/network' });
    await addIpv6Underlay(tb);
    const [h1, h2] = tb.hosts as [Host, Host];
    await underlayOffloadsOff(h1.netns, UNDERLAY_IFACE);
    await tb.putConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: NETWORK, Backend: { Type: 'vxlan' } });
    tb.startDaemon(h1, ['--vxlan-datapath', 'userspace', '--vxlan-send-path', 'tunnel-gso']);
    tb.startDaemon(h2, ['--vxlan-datapath', 'kernel']);
    for (const h of tb.hosts) {
      await waitForIpv6OnlyEnv(tb, h, 30_000);
      await tb.addContainer6(h, 'c1');
    }
  });

  after(async () => {
    for (const p of agents) {
      if (p.pid === undefined) continue;
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(out, { force: true });
    await tb?.destroy();
  });

  it('every shape the IPv6 loop sends leaves as VXLAN datagrams over IPv6 with valid checksums and the read\'s bytes',
    () => tb.explainFailure(async () => {
      const [h1, h2] = tb.hosts as [Host, Host];
      const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
      assert.match(tb.daemonLog(h1), /datapath send path: tunnel-gso \(the kernel segments whole VXLAN frames written to TAP gso6\.1\)/);
      assert.ok(a.mtu + WIRE6_OVERHEAD > OUTER_MTU, `pod MTU ${a.mtu}: a full-sized packet needs two outer datagrams`);
      await poll('ping -6 a → b', () => tb.ping(a, b.ip), 30_000, 100);
      const cap = await startAgent(agents, h1.netns, path.join(AGENTS, 'packet-capture.js'),
        { devices: [UNDERLAY_IFACE, 'flannel-v6.1'], vnetDevices: ['flannel-v6.1'], out });
      assert.ok(await tb.ping(a, b.ip), 'ping -6');
      await sendUdpOnce(a.netns, b.ip, 300);
      // Small data; one full-sized segment (MSS 1450 − 60 − 12 of timestamps = 1378); a TSO6 burst.
      for (const bytes of [100, 1370, 20_000]) {
        const r = await tcpTransfer(a.netns, b.netns, b.ip, bytes);
        assert.equal(r.receivedSha256, r.sentSha256, `TCP bytes (${bytes})`);
      }
      assert.ok(((await stopAgent(agents, cap.proc))['frames'] ?? 0) > 0, 'frames captured');

      const frames = readCapture(out);
      const tun = frames.filter((f) => f.dev === 'flannel-v6.1' && f.vnet !== undefined)
        .map((f) => ({ pkt: unhex(f.hex), vnet: f.vnet! })).filter(({ pkt }) => pkt[0]! >> 4 === 6 && srcOf6(pkt) === a.ip);
      const vnetOf = new Map(tun.map(({ pkt, vnet }) => [pkt, vnet]));
      const wire = frames.filter((f) => f.dev === UNDERLAY_IFACE).map((f) => decodeWireVxlan6(unhex(f.hex)))
        .filter((w): w is WireVxlan6 => w !== null && w.srcIP === underlay6(h1));
      const pairs = pairSegments6(tun.map((t) => t.pkt), wire);
      assert.ok(pairs.length > 0, `no TUN read matched its wire frames (${tun.length} reads, ${wire.length} frames)`);
      const peerMac = (await macOf(h2, 'flannel-v6.1')).replace(/:/g, '');

      const cases = new Map<string, CaptureCase>();
      for (const { tun: t, wire: segs } of pairs) {
        const vnet = vnetOf.get(t)!;
        const shape = shapeOf(t, vnet);
        const hlen = headers6(t);
        let offset = hlen;
        for (const [i, w] of segs.entries()) {
          const what = `${shape} segment ${i + 1}/${segs.length}`;
          assert.ok(w.frame.length - 14 <= OUTER_MTU, `${what}: ${w.frame.length - 14} bytes within the underlay MTU`);
          assert.equal(w.payloadLength, w.frame.length - 54, `${what}: outer IPv6 payload length`);
          assert.equal(w.udpLength, w.payloadLength, `${what}: UDP length`);
          assert.ok(w.udpChecksumOk, `${what}: outer UDP checksum ${w.udpChecksum.toString(16)} valid and not 0`);
          assert.equal(w.hopLimit, 63, `${what}: hop limit 64, forwarded once from gso6.1`);
          assert.deepEqual([w.dstIP, w.dstPort, w.vxlanFlags, w.vni], [underlay6(h2), 8472, 0x08, 1], `${what}: VXLAN to h2`);
          assert.equal(w.srcPort, segs[0]!.srcPort, `${what}: one outer source port per frame`);
          assert.equal(hex(w.innerEth.subarray(0, 6)), peerMac, `${what}: inner Ethernet to h2's flannel-v6.1`);
          assert.equal(hex(w.innerEth.subarray(12)), '86dd', `${what}: inner ethertype`);
          const inner = w.inner;
          assert.equal(inner[7], t[7], `${what}: inner hop limit as read`);
          assert.equal((inner[4]! << 8) | inner[5]!, inner.length - 40, `${what}: inner payload length`);
          assert.ok(checksum6Valid(inner), `${what}: inner checksum complete`);
          const body = inner.subarray(headers6(inner));
          assert.equal(hex(body), hex(t.subarray(offset, offset + body.length)), `${what}: payload bytes of the read`);
          offset += body.length;
          if (i > 0) assert.ok(body.length <= payload6Length(segs[0]!.inner), `${what}: no larger than the first`);
        }
        assert.equal(offset, t.length, `${shape}: every byte of the read on the wire`);
        if (segs.length > 1) {
          // The MSS clamp: the TUN's segment size, lowered so that a full segment fits one outer datagram.
          const gso = (vnet[1] & VNET_HDR_GSO_TCPV6) !== 0 ? vnet[3] : t.length;
          assert.equal(payload6Length(segs[0]!.inner), Math.min(gso, OUTER_MTU - WIRE6_OVERHEAD - hlen), `${shape}: MSS`);
        }
        if (shape === 'tcp-full') assert.equal(segs.length, 2, 'a full-sized single packet leaves as two segments');
        if (!cases.has(shape)) cases.set(shape, { shape, vnet, tun: hex(t), wire: segs.map((w) => hex(w.frame)) });
      }
      for (const s of ['icmp6', 'udp-partial', 'tcp-syn', 'tcp-ack', 'tcp-data', 'tcp-full']) {
        assert.ok(cases.has(s), `shape ${s} captured: ${[...cases.keys()]}`);
      }
      assert.ok(cases.has('tcp-tso') || cases.has('tcp-tso-fin'), `a TSO6 read segmented on the wire: ${[...cases.keys()]}`);

      writeCaptureFixture<CaptureFixture6>('TSFLANNELD_CAPTURE6_FIXTURE', {
        note: 'written by test/e2e/ipv6-tunnel-capture.test.ts (TSFLANNELD_CAPTURE6_FIXTURE): per shape, the packet the '
          + 'loop read from flannel-v6.1 with its virtio header and the VXLAN frames over IPv6 kernel '
          + `${os.release()} sent for it with the underlay's offloads off`,
        network: NETWORK, outerMtu: OUTER_MTU, cases: [...cases.values()],
      });
    }, () => ipv6RoutesReport(tb)));
});

