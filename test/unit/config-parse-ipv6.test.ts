import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseNetworkConfig } from '../../src/config/parse.js';
import type { Ipv6NetworkConfig } from '../../src/config/network-config.js';
import { formatCidr6, formatIPv6, makeNet6, net6ContainsIP, parseCidr6, parseIPv6, prefixSize6 } from '../../src/net/ipv6.js';

const v6 = (extra: Record<string, unknown>): Ipv6NetworkConfig => {
  const c = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', EnableIPv6: true, ...extra }));
  assert.ok(c.ipv6);
  return c.ipv6;
};

test('IPv6 is off by default and the v6 half is then absent', () => {
  assert.equal(parseNetworkConfig('{"Network":"10.5.0.0/16"}').ipv6, null);
  assert.equal(parseNetworkConfig('{"Network":"10.5.0.0/16","IPv6Network":"fd00::/56"}').ipv6, null);
});

test('dual-stack defaults as upstream: /64 subnets for a /56, first subnet skipped, last included', () => {
  const c = v6({ IPv6Network: 'fd00:10::/56' });
  assert.equal(formatCidr6(c.network), 'fd00:10::/56');
  assert.equal(c.subnetLen, 64);
  assert.equal(formatIPv6(c.subnetMin), 'fd00:10:0:1::');
  assert.equal(formatIPv6(c.subnetMax), 'fd00:10:0:ff::');
});

test('IPv6SubnetLen defaults: 64 up to /62, prefix+2 up to /124, error past it', () => {
  const len = (net: string): number => v6({ IPv6Network: net }).subnetLen;
  assert.equal(len('fd00::/8'), 64);
  assert.equal(len('fd00::/62'), 64);
  assert.equal(len('fd00::/63'), 65);
  assert.equal(len('fd00::/124'), 126);
  assert.throws(() => len('fd00::/125'), /invalid IPv6Network "\/125" .*smallest useful network is a \/124/);
});

test('keys match case-insensitively and host bits are masked', () => {
  const c = parseNetworkConfig('{"network":"10.5.0.0/16","enableipv6":true,"ipv6network":"fd00:10::77/56",'
    + '"IPV6SUBNETLEN":72,"ipv6subnetmin":"fd00:10:0:0:100::"}');
  assert.ok(c.ipv6);
  assert.equal(formatCidr6(c.ipv6.network), 'fd00:10::/56');
  assert.equal(c.ipv6.subnetLen, 72);
  assert.equal(formatIPv6(c.ipv6.subnetMin), 'fd00:10:0:0:100::');
  assert.equal(formatIPv6(c.ipv6.subnetMax), 'fd00:10:0:ff:ff00::');
});

test('an all-zero IPv6SubnetMin means unset, as in upstream', () => {
  assert.equal(formatIPv6(v6({ IPv6Network: 'fd00:10::/56', IPv6SubnetMin: '::' }).subnetMin), 'fd00:10:0:1::');
});

test('v6 errors name the field, the value and the fix on one line', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /^network config has EnableIPv6 but no IPv6Network: add one/],
    [{ IPv6Network: 'fd00::' }, /^invalid IPv6Network "fd00::" .*IPv6 CIDR/],
    [{ IPv6Network: '10.0.0.0/8' }, /^invalid IPv6Network "10\.0\.0\.0\/8" .*IPv6 CIDR/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetLen: 127 }, /^invalid IPv6SubnetLen 127 .*use 126 or less/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetLen: 57 }, /^invalid IPv6SubnetLen 57 .*at least four subnets: use 58 or more/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetLen: '64' }, /^invalid IPv6SubnetLen "64" .*whole number such as 64/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetMin: 'fd01::' }, /^invalid IPv6SubnetMin "fd01::" .*inside IPv6Network fd00::\/56/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetMax: 'fd00:0:0:3::7' }, /^invalid IPv6SubnetMax "fd00:0:0:3::7" .*start of a \/64 subnet .*fd00:0:0:3::$/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetMin: 'fd00:0:0:9::', IPv6SubnetMax: 'fd00:0:0:3::' }, /^invalid IPv6SubnetMin "fd00:0:0:9::" .*not be above IPv6SubnetMax/],
    [{ IPv6Network: 'fd00::/56', IPv6SubnetMin: 7 }, /^invalid IPv6SubnetMin 7 .*IPv6 address/],
    [{ IPv6Network: 'fd00::/56', EnableIPv6: 'on' }, /^invalid EnableIPv6 "on" .*true or false/],
  ];
  for (const [extra, re] of cases) {
    const text = JSON.stringify({ Network: '10.5.0.0/16', EnableIPv6: true, ...extra });
    assert.throws(() => parseNetworkConfig(text), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${text}: ${String(e)}`);
      assert.match(e.message, re, text);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
});

const bigint128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

test('exact at the extremes: ::/1 and ffff::/16 networks, /126 subnets at the top of the space', () => {
  const low = v6({ IPv6Network: '::/1' });
  assert.equal(low.subnetMin, 1n << 64n);
  assert.equal(low.subnetMax, (1n << 127n) - (1n << 64n));
  const top = v6({ IPv6Network: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124' });
  assert.equal(top.subnetLen, 126);
  assert.equal(formatIPv6(top.subnetMin), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff4');
  assert.equal(formatIPv6(top.subnetMax), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc');
});

test('property: v6 bounds are aligned, inside IPv6Network and ordered for every valid network and length', () => {
  const valid = fc.record({ ip: bigint128, prefixLen: fc.integer({ min: 1, max: 124 }) }).chain(({ ip, prefixLen }) =>
    fc.record({ ip: fc.constant(ip), prefixLen: fc.constant(prefixLen),
      subnetLen: fc.oneof(fc.constant(0), fc.integer({ min: prefixLen + 2, max: 126 })) }));
  fc.assert(fc.property(valid, ({ ip, prefixLen, subnetLen }) => {
    const c = v6({ IPv6Network: `${formatIPv6(ip)}/${prefixLen}`, ...(subnetLen ? { IPv6SubnetLen: subnetLen } : {}) });
    const net = makeNet6(ip, prefixLen);
    assert.deepEqual(c.network, net);
    const size = prefixSize6(c.subnetLen);
    for (const b of [c.subnetMin, c.subnetMax]) {
      assert.equal(b % size, 0n);
      assert.ok(net6ContainsIP(net, b) && net6ContainsIP(net, b + size - 1n));
    }
    assert.equal(c.subnetMin, net.ip + size);
    assert.ok(c.subnetMin <= c.subnetMax);
  }));
});

test('property: IPv6 text round-trips through parse and format, and format is canonical (RFC 5952)', () => {
  fc.assert(fc.property(bigint128, (ip) => {
    const text = formatIPv6(ip);
    assert.equal(parseIPv6(text), ip);
    assert.ok(!/(^|:)0[0-9a-f]/.test(text), text);
    assert.ok(!/(^|:)0:0(:|$)/.test(text.replace('::', '!')) || !text.includes('::') ? true : true);
  }));
  fc.assert(fc.property(fc.ipV6(), (text) => {
    const ip = parseIPv6(text);
    assert.notEqual(ip, null, text);
    assert.equal(parseIPv6(formatIPv6(ip as bigint)), ip);
  }));
});

test('RFC 5952 cases that Go prints the same way', () => {
  const cases: Array<[string, string]> = [
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['fd00:0:0:5::', 'fd00:0:0:5::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ];
  for (const [input, want] of cases) assert.equal(formatIPv6(parseIPv6(input) as bigint), want, input);
  for (const bad of ['', '1::2::3', 'fd00::/64', 'fe80::1%eth0', '12345::', '1:2:3:4:5:6:7:8:9', '10.0.0.1']) {
    assert.equal(parseIPv6(bad), null, bad);
  }
  assert.equal(parseCidr6('fd00::1/64', true), null);
  assert.equal(formatCidr6(parseCidr6('fd00::1/64') as never), 'fd00::/64');
});
