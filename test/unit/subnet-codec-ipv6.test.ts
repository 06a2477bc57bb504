import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeLeaseAttrs, encodeLeaseAttrs, LeaseValueError, parseLeaseKey, parseSubnetKey, subnetKey } from '../../src/subnet/codec.js';
import { makeNet, parseCidr } from '../../src/net/ipv4.js';
import { formatCidr6, makeNet6, parseCidr6 } from '../../src/net/ipv6.js';

describe('dual-stack subnet key', () => {
  it('formats like upstream (Go compressed lowercase v6 address)', () => {
    assert.equal(subnetKey(parseCidr('10.0.5.0/24')!, parseCidr6('fc00:0:0:5::/64')), '10.0.5.0-24&fc00:0:0:5::-64');
    assert.equal(subnetKey(parseCidr('10.244.1.0/24')!, parseCidr6('FC00:0000::1:0:0:0:0/64')), '10.244.1.0-24&fc00:0:0:1::-64');
    assert.equal(subnetKey(parseCidr('10.0.5.0/24')!, null), '10.0.5.0-24');
  });
  it('parses both parts; the v4 part stays the identity', () => {
    const p = parseLeaseKey('10.244.1.0-24&fc00:0:0:1::-64');
    assert.ok(p);
    assert.deepEqual(p.subnet, parseCidr('10.244.1.0/24'));
    assert.equal(formatCidr6(p.ipv6Subnet!), 'fc00:0:0:1::/64');
    assert.deepEqual(parseSubnetKey('10.244.1.0-24&fc00:0:0:1::-64'), parseCidr('10.244.1.0/24'));
    assert.equal(parseLeaseKey('10.244.1.0-24')?.ipv6Subnet, null);
  });
  it('rejects bad v6 parts: host bits, length over 128, not an address, upper case (upstream\'s regex)', () => {
    for (const bad of ['10.0.5.0-24&fc00:0:0:5::1-64', '10.0.5.0-24&fc00::-129', '10.0.5.0-24&fc00:::-64',
      '10.0.5.0-24&FC00::-64', '10.0.5.0-24&fc00::', '10.0.5.0-24&-64']) {
      assert.equal(parseLeaseKey(bad), null, bad);
    }
  });
  it('round-trips every aligned pair', () => {
    const v6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 128 }));
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), v6,
      (ip, len, [ip6, len6]) => {
        const subnet = makeNet(ip, len);
        const ipv6Subnet = makeNet6(ip6, len6);
        assert.deepEqual(parseLeaseKey(subnetKey(subnet, ipv6Subnet)), { subnet, ipv6Subnet });
      }));
  });
});

describe('dual-stack lease value JSON', () => {
  it('writes what upstream v0.28.9 writes for a dual-stack vxlan node, field for field', () => {
    const data = { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' };
    const v6data = { VNI: 1, VtepMAC: '5e:0b:7c:1a:22:01' };
    assert.equal(encodeLeaseAttrs({ publicIP: '192.0.2.3', publicIPv6: '2001:db8::3', backendType: 'vxlan',
      backendData: data, backendV6Data: v6data }),
    '{"PublicIP":"192.0.2.3","PublicIPv6":"2001:db8::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},'
      + '"BackendV6Data":{"VNI":1,"VtepMAC":"5e:0b:7c:1a:22:01"}}');
  });
  it('reads an IPv6-only node of upstream (PublicIP 0.0.0.0, no BackendData)', () => {
    const a = decodeLeaseAttrs('{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8::9","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}');
    assert.equal(a.publicIP, '0.0.0.0');
    assert.equal(a.publicIPv6, '2001:db8::9');
    assert.equal(a.backendData, undefined);
  });
  it('refuses a PublicIPv6 that is not an address, on one line', () => {
    for (const bad of ['{"PublicIP":"192.0.2.1","PublicIPv6":"192.0.2.1"}', '{"PublicIP":"192.0.2.1","PublicIPv6":"fd00::/64"}']) {
      assert.throws(() => decodeLeaseAttrs(bad), (e: unknown) => e instanceof LeaseValueError && /PublicIPv6 that is not an IPv6 address/.test(e.message), bad);
    }
  });
});
