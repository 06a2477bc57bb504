import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeLeaseAttrs, encodeLeaseAttrs, isIpv6OnlySubnet, leaseIdentity, NO_IPV4_SUBNET, parseLeaseKey, subnetKey }
  from '../../src/subnet/codec.js';
import { makeNet, parseCidr } from '../../src/net/ipv4.js';
import { makeNet6, parseCidr6 } from '../../src/net/ipv6.js';

describe('IPv6-only lease key', () => {
  it('is upstream\'s: the empty IPv4 half 0.0.0.0-0, then the IPv6 subnet', () => {
    assert.equal(subnetKey(NO_IPV4_SUBNET, parseCidr6('fd00:10:0:5::/64')), '0.0.0.0-0&fd00:10:0:5::-64');
    const p = parseLeaseKey('0.0.0.0-0&fd00:10:0:5::-64');
    assert.ok(p);
    assert.ok(isIpv6OnlySubnet(p.subnet));
    assert.deepEqual(p.ipv6Subnet, parseCidr6('fd00:10:0:5::/64'));
  });
  it('identity: the IPv4 key while there is an IPv4 half, the full key in an IPv6-only network', () => {
    assert.equal(leaseIdentity(parseCidr('10.0.5.0/24')!), '10.0.5.0-24');
    assert.equal(leaseIdentity(parseCidr('10.0.5.0/24')!, parseCidr6('fd00:0:0:5::/64')), '10.0.5.0-24');
    assert.equal(leaseIdentity(NO_IPV4_SUBNET, parseCidr6('fd00:0:0:5::/64')), '0.0.0.0-0&fd00:0:0:5::-64');
    assert.notEqual(leaseIdentity(NO_IPV4_SUBNET, parseCidr6('fd00:0:0:5::/64')),
      leaseIdentity(NO_IPV4_SUBNET, parseCidr6('fd00:0:0:6::/64')));
  });
  it('two IPv6-only leases share an identity only when their IPv6 subnets are equal', () => {
    const v6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 1, max: 128 }));
    fc.assert(fc.property(v6, v6, ([a, la], [b, lb]) => {
      const x = makeNet6(a, la);
      const y = makeNet6(b, lb);
      const same = x.ip === y.ip && x.prefixLen === y.prefixLen;
      assert.equal(leaseIdentity(NO_IPV4_SUBNET, x) === leaseIdentity(NO_IPV4_SUBNET, y), same);
      assert.deepEqual(parseLeaseKey(leaseIdentity(NO_IPV4_SUBNET, x)), { subnet: NO_IPV4_SUBNET, ipv6Subnet: x });
    }));
  });
  it('a v4 subnet of any length above 0 keys by itself alone', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 }), (ip, len) => {
      const n = makeNet(ip, len);
      assert.equal(leaseIdentity(n, parseCidr6('fd00::/64')), subnetKey(n));
    }));
  });
});

describe('IPv6-only lease value', () => {
  it('round-trips what upstream v0.28.9 writes for an IPv6-only vxlan node (PublicIP 0.0.0.0, no BackendData)', () => {
    const text = '{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8::11","BackendType":"vxlan",'
      + '"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}';
    const attrs = decodeLeaseAttrs(text);
    assert.equal(attrs.publicIP, '0.0.0.0');
    assert.equal(attrs.publicIPv6, '2001:db8::11');
    assert.equal(attrs.backendData, undefined);
    assert.equal(encodeLeaseAttrs(attrs), text);
  });
});
