// The IPv6 tunnel-GSO frames against the kernel's own output: for every packet shape of the capture fixture
// (test/fixtures/tunnel-gso6-capture.json, written by test/e2e/ipv6-tunnel-capture.test.ts), Encap6Batch builds the
// TAP frame from the captured TUN read and its virtio header, the model of the kernel (support/tunnel6-frames.ts)
// segments it or completes its outer checksum, and the result must be byte for byte the frames that left the
// sender's underlay, but for what the host rewrites when it routes the frame from the TAP (MACs, hop limit).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { macBytes } from '../../src/datapath/wire.js';
import { parseCidr6, prefixMask6, requireIPv6 } from '../../src/net/ipv6.js';
import { kernelFrames6, tapFrames6, type Tunnel6Setup } from '../support/tunnel6-frames.js';
import { hex, unhex } from '../support/vxlan-capture.js';
import { decodeWireVxlan6, type CaptureFixture6 } from '../support/vxlan-capture6.js';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'tunnel-gso6-capture.json');
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as CaptureFixture6;
const SHAPES = ['icmp6', 'udp-partial', 'tcp-syn', 'tcp-ack', 'tcp-data', 'tcp-full'];

/** Both ends of the captured tunnel, as the first wire frame of a case shows them. */
function setupOf(first: Uint8Array): Tunnel6Setup {
  const w = decodeWireVxlan6(first);
  assert.ok(w, 'a VXLAN frame over IPv6');
  const subnet = (o: number): bigint => requireIPv6(
    [...Array(8).keys()].map((i) => ((w.inner[o + 2 * i]! << 8) | w.inner[o + 2 * i + 1]!).toString(16)).join(':'))
    & prefixMask6(64);
  return {
    network: parseCidr6(fixture.network)!, ownSubnet: subnet(8), peerSubnet: subnet(24), local: requireIPv6(w.srcIP),
    peerPublic: requireIPv6(w.dstIP), ownMac: w.innerEth.slice(6, 12), peerMac: w.innerEth.slice(0, 6),
    tapMac: macBytes('0a:00:00:00:00:01'), port: w.dstPort, vni: w.vni, outerMtu: fixture.outerMtu,
  };
}

test('the IPv6 capture fixture has every shape the loop sends', () => {
  const shapes = fixture.cases.map((c) => c.shape);
  for (const s of SHAPES) assert.ok(shapes.includes(s), `fixture has ${s}: ${shapes}`);
  assert.ok(shapes.some((s) => s.startsWith('tcp-tso')), 'fixture has a TSO6 read');
});

for (const c of fixture.cases) {
  test(`captured ${c.shape}: our TAP frame, as the kernel is modelled to send it, is byte for byte what left eth0`, () => {
    const wire = c.wire.map(unhex);
    const { frames, batch } = tapFrames6(unhex(c.tun), c.vnet, setupOf(wire[0]!));
    assert.equal(batch.sendCount, 0, 'nothing sent the segmenting way');
    assert.equal(frames.length, 1, 'one TAP frame');
    const model = kernelFrames6(frames[0]!);
    assert.equal(model.length, wire.length, 'segment count');
    wire.forEach((got, i) => {
      assert.equal(got[14 + 7], 63, `segment ${i + 1}: forwarded once (hop limit 64 − 1)`);
      // What the host changes when it routes the frame from the TAP to the underlay: MACs and hop limit (outside
      // every checksum over IPv6).
      const norm = got.slice();
      norm.set(model[i]!.subarray(0, 12));
      norm[14 + 7] = 64;
      assert.equal(hex(model[i]!), hex(norm), `segment ${i + 1}/${wire.length}`);
    });
  });
}
