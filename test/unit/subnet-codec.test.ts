import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeLeaseAttrs, encodeLeaseAttrs, LeaseValueError, parseSubnetKey, subnetKey } from '../../src/subnet/codec.js';
import { makeNet, parseCidr } from '../../src/net/ipv4.js';
import type { LeaseAttrs } from '../../src/subnet/lease.js';

describe('subnet key', () => {
  it('formats like upstream', () => {
    assert.equal(subnetKey(parseCidr('10.5.34.0/24')!), '10.5.34.0-24');
  });
  it('parses an IPv4 key and ignores a dual-stack suffix', () => {
    assert.deepEqual(parseSubnetKey('10.5.34.0-24'), parseCidr('10.5.34.0/24'));
    assert.deepEqual(parseSubnetKey('10.244.1.0-24&fc00:0:0:1::-64'), parseCidr('10.244.1.0/24'));
  });
  it('rejects what is not a key', () => {
    for (const bad of ['config', '10.5.34.0', '10.5.34.0-33', '10.5.34.1-24', '300.1.1.0-24', '10.5.34.0-24x', 'x10.5.34.0-24', '']) {
      assert.equal(parseSubnetKey(bad), null, bad);
    }
  });
  it('round-trips every aligned subnet', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (ip, len) => {
      const net = makeNet(ip, len);
      assert.deepEqual(parseSubnetKey(subnetKey(net)), net);
    }));
  });
});

describe('lease value JSON', () => {
  it('writes exactly what upstream writes for vxlan', () => {
    const attrs: LeaseAttrs = { publicIP: '192.168.64.3', publicIPv6: null, backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } };
    assert.equal(encodeLeaseAttrs(attrs),
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}');
  });
  it('omits BackendType and BackendData when absent (udp, host-gw)', () => {
    assert.equal(encodeLeaseAttrs({ publicIP: '192.0.2.1', publicIPv6: null }), '{"PublicIP":"192.0.2.1","PublicIPv6":null}');
    assert.equal(encodeLeaseAttrs({ publicIP: '192.0.2.1', publicIPv6: null, backendType: 'host-gw' }),
      '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"host-gw"}');
  });
  it('reads upstream variants', () => {
    assert.deepEqual(decodeLeaseAttrs('{"PublicIP":"192.0.2.7"}'), { publicIP: '192.0.2.7', publicIPv6: null });
    assert.deepEqual(decodeLeaseAttrs('{"PublicIP":"192.0.2.7","PublicIPv6":null}'), { publicIP: '192.0.2.7', publicIPv6: null });
    assert.deepEqual(decodeLeaseAttrs('{"publicip":"192.0.2.7","backendtype":"host-gw"}'),
      { publicIP: '192.0.2.7', publicIPv6: null, backendType: 'host-gw' });
    const dual = decodeLeaseAttrs('{"PublicIP":"192.0.2.7","PublicIPv6":"2001:db8::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:00"}}');
    assert.equal(dual.publicIPv6, '2001:db8::7');
    assert.deepEqual(dual.backendV6Data, { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:00' });
  });
  it('gives a one-line error for garbage', () => {
    for (const bad of ['', 'nope', '[]', 'null', '{}', '{"PublicIP":5}', '{"PublicIP":"1.2.3"}', '{"PublicIP":"192.0.2.1","BackendType":3}']) {
      assert.throws(() => decodeLeaseAttrs(bad), (err: unknown) => err instanceof LeaseValueError && !err.message.includes('\n'), bad);
    }
  });
  it('round-trips arbitrary attributes', () => {
    const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const attrs = fc.record({
      publicIP: ip,
      publicIPv6: fc.option(fc.constantFrom('2001:db8::1', 'fc00::5'), { nil: null }),
      backendType: fc.option(fc.constantFrom('vxlan', 'host-gw', 'alloc'), { nil: undefined }),
      backendData: fc.option(fc.record({ VNI: fc.nat(0xffffff), VtepMAC: fc.constant('aa:bb:cc:dd:ee:ff') }), { nil: undefined }),
    }, { requiredKeys: ['publicIP', 'publicIPv6'] });
    fc.assert(fc.property(attrs, (a) => {
      // Through JSON: fast-check builds null-prototype objects, which deepEqual tells apart from parsed ones.
      const clean = JSON.parse(JSON.stringify(a)) as LeaseAttrs;
      assert.deepEqual(decodeLeaseAttrs(encodeLeaseAttrs(clean)), clean);
    }));
  });
});
