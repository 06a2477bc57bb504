import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeLease, overlappingLease, type LeaseRules } from '../../src/subnet/lease-rules.js';
import { NO_IPV4_SUBNET } from '../../src/subnet/codec.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { parseCidr6, type Ipv6Net } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';

const v6 = (c: string): Ipv6Net => parseCidr6(c) as Ipv6Net;
const RULES: LeaseRules = { network: null, subnetLen: null, ownSubnet: NO_IPV4_SUBNET, ownPublicIP: null,
  ipv6: { network: v6('fd00:30::/56'), subnetLen: 64, ownSubnet: v6('fd00:30:0:1::/64'), ownPublicIPv6: '2001:db8::1' } };

function lease(six: string | null, publicIPv6: string | null, subnet: Ipv4Net = NO_IPV4_SUBNET): Lease {
  return { subnet, ipv6Subnet: six === null ? null : v6(six),
    attrs: { publicIP: '0.0.0.0', publicIPv6, backendType: 'host-gw' }, expiration: null, etcdLeaseId: '1', revision: '1' };
}
const why = (l: Lease, rules = RULES): string | null => {
  const v = judgeLease(l, rules);
  return v.ok ? null : v.own ? 'own' : v.why;
};

test('IPv6-only: a peer is told apart by its IPv6 subnet, though every key shares 0.0.0.0-0', () => {
  assert.equal(why(lease('fd00:30:0:2::/64', '2001:db8::2')), null);
  assert.equal(why(lease('fd00:30:0:1::/64', '2001:db8::1')), 'own');
});

test('IPv6-only: a lease without an IPv6 half or PublicIPv6, or with an IPv4 half, is refused with its reason', () => {
  assert.match(why(lease(null, '2001:db8::2'))!, /has no IPv6 subnet/);
  assert.match(why(lease('fd00:30:0:2::/64', null))!, /has no PublicIPv6/);
  assert.match(why(lease('fd00:30:0:2::/64', '2001:db8::2', parseCidr('10.0.2.0/24')!))!,
    /IPv4 subnet 10\.0\.2\.0\/24 in an IPv6-only network/);
});

test('IPv6-only: the IPv6 rules still apply (network, length, overlap, own address)', () => {
  assert.match(why(lease('fd00:99:0:2::/64', '2001:db8::2'))!, /not a subnet inside IPv6Network/);
  assert.match(why(lease('fd00:30:0:2::/72', '2001:db8::2'))!, /IPv6SubnetLen \/64/);
  assert.match(why(lease('fd00:30:0:1::/72', '2001:db8::2'))!, /IPv6SubnetLen|overlaps our own/);
  assert.match(why(lease('fd00:30:0:2::/64', '2001:db8::1'))!, /is our own/);
  assert.match(why(lease('fd00:30:0:2::/64', 'fe80::1'))!, /not a global unicast/);
});

test('IPv6-only: no lease is named as overlapping another for their shared 0.0.0.0/0 half', () => {
  assert.equal(overlappingLease(NO_IPV4_SUBNET, [lease('fd00:30:0:2::/64', '2001:db8::2')]), null);
});
