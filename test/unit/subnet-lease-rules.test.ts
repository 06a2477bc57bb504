import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv4, makeNet, netContainsNet, netsOverlap, parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { judgeLease, nonUnicastReason, overlappingLease, type LeaseRules } from '../../src/subnet/lease-rules.js';
import type { Lease } from '../../src/subnet/lease.js';

const net = (t: string): Ipv4Net => parseCidr(t)!;
const lease = (subnet: string | Ipv4Net, publicIP = '192.0.2.20'): Lease => ({
  subnet: typeof subnet === 'string' ? net(subnet) : subnet,
  attrs: { publicIP, publicIPv6: null, backendType: 'host-gw' },
  expiration: null, etcdLeaseId: '0', revision: '1',
});
const RULES: LeaseRules = { network: net('10.0.0.0/16'), subnetLen: 24, ownSubnet: net('10.0.1.0/24'), ownPublicIP: '192.0.2.1' };
const why = (l: Lease, r = RULES): string => {
  const v = judgeLease(l, r);
  assert.ok(!v.ok && !v.own, `expected a rejection of ${JSON.stringify(l.attrs)} ${l.subnet.prefixLen}`);
  return v.why;
};

describe('lease rules', () => {
  it('accepts an ordinary peer lease and skips our own subnet quietly', () => {
    assert.deepEqual(judgeLease(lease('10.0.2.0/24'), RULES), { ok: true });
    assert.deepEqual(judgeLease(lease('10.0.1.0/24', '192.0.2.1'), RULES), { ok: false, own: true });
  });

  it('rejects each lease of the issue with a reason naming it', () => {
    assert.match(why(lease('10.0.2.0/25', '192.0.2.30')), /length \/25 is not the network's SubnetLen \/24/);
    assert.match(why(lease('10.0.2.0/23')), /length \/23/);
    assert.match(why(lease('10.9.0.0/24')), /not a subnet inside the network 10\.0\.0\.0\/16/);
    assert.match(why(lease('10.0.0.0/16')), /not a subnet inside/);
    assert.match(why(lease('0.0.0.0/0')), /not a subnet inside/);
    assert.match(why(lease('10.0.2.0/24', '0.0.0.0')), /PublicIP 0\.0\.0\.0 is in 0\.0\.0\.0\/8/);
    assert.match(why(lease('10.0.2.0/24', '127.0.0.5')), /loopback/);
    assert.match(why(lease('10.0.2.0/24', '239.1.2.3')), /multicast/);
    assert.match(why(lease('10.0.2.0/24', '255.255.255.255')), /broadcast/);
    assert.match(why(lease('10.0.2.0/24', '250.0.0.1')), /reserved/);
    assert.match(why(lease('10.0.2.0/24', '192.0.2.1')), /our own/);
  });

  it('rejects a lease over our own subnet even when no SubnetLen is given', () => {
    assert.match(why(lease('10.0.1.128/25'), { ...RULES, subnetLen: null }), /overlaps our own subnet 10\.0\.1\.0\/24/);
  });

  it('names the lease a bad one overlaps', () => {
    const victim = lease('10.0.2.0/24');
    assert.equal(overlappingLease(net('10.0.2.0/25'), [lease('10.0.3.0/24'), victim]), victim);
    assert.equal(overlappingLease(net('10.0.2.0/24'), [victim]), null, 'a lease does not overlap itself');
  });

  it('accepted leases never overlap each other or our subnet, and lie inside the network (property)', () => {
    const anyLease = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 0xffffffff })).map(([ip, len, pub]) => lease(makeNet(ip, len), formatIPv4(pub)));
    const nearLease = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 14, max: 28 }),
      fc.constantFrom('192.0.2.7', '0.0.0.0', '127.0.0.1', '224.0.0.1', '192.0.2.1'))
      .map(([low, len, pub]) => lease(makeNet((10 << 24) + low, len), pub));
    fc.assert(fc.property(fc.array(fc.oneof(anyLease, nearLease), { maxLength: 40 }), (leases) => {
      const ok = leases.filter((l) => judgeLease(l, RULES).ok);
      for (const a of ok) {
        assert.ok(netContainsNet(RULES.network!, a.subnet) && a.subnet.prefixLen === 24);
        assert.ok(!netsOverlap(a.subnet, RULES.ownSubnet));
        assert.equal(nonUnicastReason(Number(a.attrs.publicIP.split('.')[0]) << 24 >>> 0), null);
        assert.notEqual(a.attrs.publicIP, RULES.ownPublicIP);
        for (const b of ok) {
          if (a.subnet.ip !== b.subnet.ip) assert.ok(!netsOverlap(a.subnet, b.subnet));
        }
      }
    }));
  });
});
