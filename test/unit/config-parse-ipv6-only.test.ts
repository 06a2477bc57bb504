import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { formatCidr6, formatIPv6 } from '../../src/net/ipv6.js';

test('EnableIPv4 false with IPv6Network: an IPv6-only config, the IPv4 fields at upstream\'s zero values', () => {
  const c = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:20::/56","Backend":{"Type":"host-gw"}}');
  assert.equal(c.enableIPv4, false);
  assert.equal(c.enableIPv6, true);
  assert.deepEqual(c.network, { ip: 0, prefixLen: 0 });
  assert.equal(c.subnetLen, 0);
  assert.ok(c.ipv6);
  assert.equal(formatCidr6(c.ipv6.network), 'fd00:20::/56');
  assert.equal(c.ipv6.subnetLen, 64);
  assert.equal(formatIPv6(c.ipv6.subnetMin), 'fd00:20:0:1::');
  assert.equal(c.backend.type, 'host-gw');
});

test('IPv6-only: Network and its bounds are ignored as upstream does, even when they would not parse', () => {
  const c = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/56","Network":"nonsense","SubnetLen":99}');
  assert.equal(c.subnetLen, 0);
});

test('IPv6-only: the IPv6 checks still apply, each a one-line error naming the field', () => {
  assert.throws(() => parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true}'), /IPv6Network/);
  assert.throws(() => parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"10.0.0.0/8"}'), /IPv6Network/);
  assert.throws(() => parseNetworkConfig('{"EnableIPv4":false}'), /invalid EnableIPv4 false .*no address family is left/);
});
