// Issue 20 item 1, the pure part: which received inner packets the datapath delivers. The inner source must lie in
// a subnet leased by the PublicIP that sent the frame (its pods, or its flannel.<VNI> address, the subnet's network
// address); the inner destination must lie in our own subnet. --vxlan-allow-foreign-source lifts only the first.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { DecapBatch } from '../../src/datapath/decap.js';
import { PeerReplayLog } from '../../src/datapath/peer-log.js';
import {
  INNER_FOREIGN_DESTINATION, INNER_FOREIGN_SOURCE, INNER_OK, PeerTable, type PeerTableOp,
} from '../../src/datapath/peer-table.js';
import { macBytes } from '../../src/datapath/wire.js';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import { parseOptions } from '../../src/options.js';
import { udpPacket, vxlanFrame } from '../support/datapath-packets.js';

const ip = (s: string): number => parseIPv4(s)!;
const MAC = [2, 0, 0, 0, 0, 9];
const OWN_MAC = macBytes('02:00:00:00:00:01');
const PEER = ip('192.0.2.2');

/** We hold 10.244.2.0/24; peer 192.0.2.2 holds 10.244.1.0/24, 192.0.2.3 holds 10.244.3.0/24. */
function table(): PeerTable {
  const t = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  t.apply({ op: 'own', subnetIP: ip('10.244.2.0'), prefixLen: 24 });
  t.set(ip('10.244.1.0'), PEER, MAC);
  t.set(ip('10.244.3.0'), ip('192.0.2.3'), MAC);
  return t;
}

test('the inner source must be the sending peer\'s, the inner destination ours', () => {
  const t = table();
  const check = (src: string, dst: string, any = false): number => t.checkInner(PEER, ip(src), ip(dst), any);
  assert.equal(check('10.244.1.5', '10.244.2.9'), INNER_OK, 'a pod of the peer');
  assert.equal(check('10.244.1.0', '10.244.2.0'), INNER_OK, 'the peer\'s flannel.1 address, to ours');
  assert.equal(check('10.244.9.5', '10.244.2.9'), INNER_FOREIGN_SOURCE, 'an unleased subnet');
  assert.equal(check('10.244.3.5', '10.244.2.9'), INNER_FOREIGN_SOURCE, 'another peer\'s subnet');
  assert.equal(check('10.244.2.7', '10.244.2.9'), INNER_FOREIGN_SOURCE, 'our own subnet');
  assert.equal(check('8.8.8.8', '10.244.2.9'), INNER_FOREIGN_SOURCE, 'outside the Network');
  assert.equal(check('10.244.1.5', '10.244.3.9'), INNER_FOREIGN_DESTINATION, 'another peer\'s subnet');
  assert.equal(check('10.244.1.5', '192.0.2.1'), INNER_FOREIGN_DESTINATION, 'outside the Network');
  assert.equal(check('8.8.8.8', '10.244.2.9', true), INNER_OK, 'allowed foreign source');
  assert.equal(check('8.8.8.8', '1.1.1.1', true), INNER_FOREIGN_DESTINATION, 'the destination rule stays');
  const fresh = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  fresh.set(ip('10.244.1.0'), PEER, MAC);
  assert.equal(fresh.checkInner(PEER, ip('10.244.1.5'), ip('10.244.2.9'), false), INNER_FOREIGN_DESTINATION,
    'nothing is ours before our lease is known');
  t.apply({ op: 'clear' });
  assert.equal(check('10.244.1.5', '10.244.2.9', true), INNER_OK, 'clearing the peers keeps our subnet');
});

test('checkInner agrees with a model over random tables and addresses', () => {
  const octet = fc.integer({ min: 0, max: 7 });
  fc.assert(fc.property(fc.array(fc.tuple(octet, fc.integer({ min: 1, max: 3 }))), octet,
    fc.tuple(octet, octet, fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean()),
    (leases, own, [srcNet, dstNet, from, anySource, outside]) => {
      const t = new PeerTable(parseCidr('10.9.0.0/21')!, 24);
      t.setOwnSubnet(ip(`10.9.${own}.0`), 24);
      const owner = new Map<number, number>();
      for (const [net, host] of leases) {
        t.set(ip(`10.9.${net}.0`), ip(`192.0.2.${host}`), MAC);
        owner.set(net, host);
      }
      const src = outside ? ip(`10.8.${srcNet}.4`) : ip(`10.9.${srcNet}.4`);
      const want = dstNet !== own ? INNER_FOREIGN_DESTINATION
        : anySource || (!outside && owner.get(srcNet) === from) ? INNER_OK : INNER_FOREIGN_SOURCE;
      assert.equal(t.checkInner(ip(`192.0.2.${from}`), src, ip(`10.9.${dstNet}.4`), anySource), want);
    }));
});

function decapOne(src: string, dst: string, allowForeignSource: boolean): { c: Float64Array; written: number } {
  const frame = vxlanFrame(udpPacket(new Uint8Array(16), src, dst), 1, OWN_MAC, Uint8Array.from(MAC));
  const buf = new Uint8Array(frame.length + 64);
  buf.set(frame, 16);
  const batch = new DecapBatch(buf, 8);
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  batch.reset();
  batch.datagram({ vni: 1, ownMac: OWN_MAC, innerMtu: 1450, coalesce: true, allowForeignSource }, table(), 16,
    frame.length, PEER, 0, counters);
  batch.flush(counters);
  return { c: counters, written: batch.writeCount };
}

test('decap writes nothing for a foreign inner address and counts the reason', () => {
  const cases: Array<[string, string, boolean, 'drop_foreign_source' | 'drop_foreign_destination' | null]> = [
    ['10.244.1.5', '10.244.2.9', false, null],
    ['10.244.9.5', '10.244.2.9', false, 'drop_foreign_source'],
    ['10.244.2.5', '10.244.2.9', false, 'drop_foreign_source'],
    ['8.8.8.8', '10.244.2.9', false, 'drop_foreign_source'],
    ['10.244.1.5', '8.8.8.8', false, 'drop_foreign_destination'],
    ['8.8.8.8', '10.244.2.9', true, null],
    ['8.8.8.8', '8.8.4.4', true, 'drop_foreign_destination'],
  ];
  for (const [src, dst, allow, reason] of cases) {
    const { c, written } = decapOne(src, dst, allow);
    const what = `${src} → ${dst}${allow ? ' (foreign sources allowed)' : ''}`;
    assert.equal(written, reason === null ? 1 : 0, `${what}: TUN writes`);
    assert.equal(c[C.drop_foreign_source], reason === 'drop_foreign_source' ? 1 : 0, `${what}: drop_foreign_source`);
    assert.equal(c[C.drop_foreign_destination], reason === 'drop_foreign_destination' ? 1 : 0,
      `${what}: drop_foreign_destination`);
  }
});

test('the replay log rebuilds the table the posted ops built', () => {
  const op = fc.oneof(
    fc.record({ op: fc.constant('set' as const), subnetIP: fc.integer({ min: 0, max: 7 }).map((n) => ip(`10.9.${n}.0`)),
      publicIP: fc.integer({ min: 1, max: 3 }).map((h) => ip(`192.0.2.${h}`)), mac: fc.constant(MAC) }),
    fc.record({ op: fc.constant('delete' as const), subnetIP: fc.integer({ min: 0, max: 7 }).map((n) => ip(`10.9.${n}.0`)) }),
    fc.record({ op: fc.constant('own' as const), subnetIP: fc.integer({ min: 0, max: 7 }).map((n) => ip(`10.9.${n}.0`)),
      prefixLen: fc.constant(24) }),
    fc.constant({ op: 'clear' as const }),
  );
  fc.assert(fc.property(fc.array(op as fc.Arbitrary<PeerTableOp>, { maxLength: 40 }), (ops) => {
    const live = new PeerTable(parseCidr('10.9.0.0/21')!, 24);
    const log = new PeerReplayLog();
    for (const o of ops) {
      live.apply(o);
      log.record(o);
    }
    const replayed = new PeerTable(parseCidr('10.9.0.0/21')!, 24);
    for (const o of log.replay()) replayed.apply(o);
    assert.deepEqual([...replayed.present], [...live.present]);
    for (let s = 0; s < 8; s++) {
      if (live.present[s] === 1) assert.equal(replayed.publicIPs[s], live.publicIPs[s]);
      for (let h = 1; h <= 3; h++) {
        for (let d = 0; d < 8; d++) {
          const args = [ip(`192.0.2.${h}`), ip(`10.9.${s}.1`), ip(`10.9.${d}.1`), false] as const;
          assert.equal(replayed.checkInner(...args), live.checkInner(...args));
        }
      }
    }
  }));
});

test('--vxlan-allow-foreign-source: off by default, on by flag or FLANNELD_VXLAN_ALLOW_FOREIGN_SOURCE', () => {
  assert.equal(parseOptions([], {}).vxlanAllowForeignSource, false);
  assert.equal(parseOptions(['--vxlan-allow-foreign-source'], {}).vxlanAllowForeignSource, true);
  assert.equal(parseOptions([], { FLANNELD_VXLAN_ALLOW_FOREIGN_SOURCE: 'true' }).vxlanAllowForeignSource, true);
});
