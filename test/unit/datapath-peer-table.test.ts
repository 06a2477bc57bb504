import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import { PeerTable } from '../../src/datapath/peer-table.js';

const ip = (s: string): number => parseIPv4(s)!;
const MAC = [2, 0, 0, 0, 0, 9];

test('lookup finds the peer owning the destination subnet and nothing outside the Network', () => {
  const t = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  t.set(ip('10.244.2.0'), ip('192.0.2.2'), MAC);
  const slot = t.lookup(ip('10.244.2.77'));
  assert.ok(slot >= 0);
  assert.equal(t.publicIPs[slot], ip('192.0.2.2'));
  assert.deepEqual([...t.macs.subarray(slot * 6, slot * 6 + 6)], MAC);
  assert.equal(t.lookup(ip('10.244.3.1')), -1);
  assert.equal(t.lookup(ip('10.245.2.1')), -1);
  assert.equal(t.subnetAddressOf(ip('10.244.9.9')), ip('10.244.9.0'));
});

test('known sources are reference-counted over subnets and follow deletes and changes', () => {
  const t = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  t.set(ip('10.244.2.0'), ip('192.0.2.2'), MAC);
  t.set(ip('10.244.3.0'), ip('192.0.2.2'), MAC);
  t.delete(ip('10.244.2.0'));
  assert.equal(t.isKnownSource(ip('192.0.2.2')), true);
  t.set(ip('10.244.3.0'), ip('192.0.2.3'), MAC);
  assert.equal(t.isKnownSource(ip('192.0.2.2')), false);
  assert.equal(t.isKnownSource(ip('192.0.2.3')), true);
  t.apply({ op: 'clear' });
  assert.equal(t.isKnownSource(ip('192.0.2.3')), false);
  assert.equal(t.size, 0);
});

test('a Network with too many subnets is refused with a one-line error naming the fix', () => {
  assert.throws(() => new PeerTable(parseCidr('10.0.0.0/8')!, 30), /SubnetLen 30 .*--vxlan-datapath kernel/);
});

test('the table agrees with a Map model under random set/delete sequences', () => {
  const op = fc.record({ set: fc.boolean(), subnet: fc.nat(15), host: fc.nat(3) });
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.nat(255), (ops, probeHost) => {
    const t = new PeerTable(parseCidr('10.5.0.0/20')!, 24);
    const model = new Map<number, number>();
    for (const o of ops) {
      const subnetIP = ip(`10.5.${o.subnet}.0`);
      if (o.set) {
        t.set(subnetIP, ip(`192.0.2.${o.host + 1}`), MAC);
        model.set(o.subnet, o.host + 1);
      } else {
        t.delete(subnetIP);
        model.delete(o.subnet);
      }
    }
    for (let s = 0; s < 16; s++) {
      const slot = t.lookup(ip(`10.5.${s}.${probeHost}`));
      const want = model.get(s);
      assert.equal(slot >= 0 ? t.publicIPs[slot] : undefined, want === undefined ? undefined : ip(`192.0.2.${want}`));
    }
    for (let h = 1; h <= 4; h++) {
      assert.equal(t.isKnownSource(ip(`192.0.2.${h}`)), [...model.values()].includes(h));
    }
  }));
});

test('the datapath refuses a Network with too many subnets on the main thread, before it opens a device', async () => {
  const { UserspaceDatapath } = await import('../../src/datapath/userspace-datapath.js');
  assert.throws(() => new UserspaceDatapath({ tunName: 'tsf-never0', vni: 1, port: 8472, ownMac: '02:00:00:00:00:01',
    localIP: 0, network: parseCidr('10.0.0.0/8')!, subnetLen: 30, innerMtu: 1450 }), /SubnetLen 30 .*--vxlan-datapath kernel/);
});
