import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeLease, type LeaseRules } from '../../src/subnet/lease-rules.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { parseCidr6, type Ipv6Net } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';

const v4 = (c: string): Ipv4Net => parseCidr(c) as Ipv4Net;
const v6 = (c: string): Ipv6Net => parseCidr6(c) as Ipv6Net;
const RULES: LeaseRules = { network: v4('10.0.0.0/16'), subnetLen: 24, ownSubnet: v4('10.0.1.0/24'), ownPublicIP: '192.0.2.1',
  ipv6: { network: v6('fd00:30::/56'), subnetLen: 64, ownSubnet: v6('fd00:30:0:1::/64'), ownPublicIPv6: '2001:db8::1' } };

function lease(six: string | null, publicIPv6: string | null): Lease {
  return { subnet: v4('10.0.2.0/24'), ipv6Subnet: six === null ? null : v6(six),
    attrs: { publicIP: '192.0.2.2', publicIPv6, backendType: 'host-gw' }, expiration: null, etcdLeaseId: '1', revision: '1' };
}
const why = (l: Lease, rules = RULES): string | null => {
  const v = judgeLease(l, rules);
  return v.ok ? null : v.own ? 'own' : v.why;
};

test('a good dual-stack lease passes; a v4-only one too (it just gets no IPv6 route)', () => {
  assert.equal(why(lease('fd00:30:0:2::/64', '2001:db8::2')), null);
  assert.equal(why(lease(null, null)), null);
});

test('the IPv6 part is judged like the IPv4 one, each with its reason', () => {
  assert.match(why(lease('fd00:99:0:2::/64', '2001:db8::2'))!, /IPv6 subnet fd00:99:0:2::\/64 is not a subnet inside IPv6Network fd00:30::\/56/);
  assert.match(why(lease('fd00:30::/56', '2001:db8::2'))!, /not a subnet inside IPv6Network/);
  assert.match(why(lease('fd00:30:0:2::/72', '2001:db8::2'))!, /length \/72 is not the network's IPv6SubnetLen \/64/);
  assert.match(why(lease('fd00:30:0:1::/64', '2001:db8::2'))!, /overlaps our own fd00:30:0:1::\/64/);
  assert.match(why(lease('fd00:30:0:2::/64', 'fe80::2'))!, /PublicIPv6 "fe80::2" is not a global unicast/);
  assert.match(why(lease('fd00:30:0:2::/64', '::1'))!, /not a global unicast/);
  assert.match(why(lease('fd00:30:0:2::/64', 'ff02::1'))!, /not a global unicast/);
  assert.match(why(lease('fd00:30:0:2::/64', '2001:DB8::1'))!, /PublicIPv6 2001:db8::1 is our own/);
});

test('without IPv6 rules (an IPv4-only network) the IPv6 part is not looked at', () => {
  assert.equal(why(lease('fd00:99:0:2::/64', 'fe80::2'), { ...RULES, ipv6: null }), null);
});
