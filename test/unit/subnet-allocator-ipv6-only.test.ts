import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseSubnet, poolExhaustedMessage } from '../../src/subnet/allocator.js';
import { NO_IPV4_SUBNET } from '../../src/subnet/codec.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { formatCidr6, parseCidr6, type Ipv6Net } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';

const config = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:40::/60","Backend":{"Type":"host-gw"}}');
const v6 = (c: string): Ipv6Net => parseCidr6(c) as Ipv6Net;
const lease = (six: string, publicIPv6: string): Lease => ({ subnet: NO_IPV4_SUBNET, ipv6Subnet: v6(six),
  attrs: { publicIP: '0.0.0.0', publicIPv6 }, expiration: new Date(), etcdLeaseId: '5', revision: '1' });
const choose = (leases: Lease[], publicIPv6: string, previousIPv6: Ipv6Net | null = null, random = () => 0) =>
  chooseSubnet({ config, leases, publicIP: '0.0.0.0', publicIPv6, previous: null, previousIPv6, random });

test('IPv6-only: our lease is found by PublicIPv6, never by the PublicIP 0.0.0.0 every host shares', () => {
  const other = lease('fd00:40:0:1::/64', '2001:db8::1');
  const mine = lease('fd00:40:0:2::/64', '2001:db8::2');
  const c = choose([other, mine], '2001:db8:0::2');
  assert.equal(c.kind, 'own');
  assert.equal(c.kind === 'own' && c.lease, mine);
  const fresh = choose([other], '2001:db8::3');
  assert.equal(fresh.kind, 'new');
  assert.ok(fresh.kind === 'new' && fresh.ipv6Subnet && formatCidr6(fresh.ipv6Subnet) === 'fd00:40:0:2::/64');
  assert.deepEqual(fresh.kind === 'new' && fresh.subnet, NO_IPV4_SUBNET);
});

test('IPv6-only: a previous IPv6 subnet is reused when free; a lease of ours that does not fit is stale', () => {
  const prev = choose([lease('fd00:40:0:1::/64', '2001:db8::1')], '2001:db8::2', v6('fd00:40:0:7::/64'));
  assert.equal(prev.kind, 'previous');
  const stale = choose([lease('fd00:99:0:1::/64', '2001:db8::2')], '2001:db8::2');
  assert.equal(stale.kind, 'new');
  assert.equal(stale.staleOwn.length, 1);
});

test('IPv6-only: a new subnet never overlaps a taken one, and the pool runs out exactly', () => {
  fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 15 }), { maxLength: 15 }), fc.double({ min: 0, max: 0.999, noNaN: true }),
    (taken, r) => {
      const leases = taken.map((i) => lease(`fd00:40:0:${i.toString(16)}::/64`, `2001:db8::${i + 100}`));
      const c = choose(leases, '2001:db8::1', null, () => r);
      if (taken.length === 15) return assert.equal(c.kind, 'full');
      assert.equal(c.kind, 'new');
      const got = c.kind === 'new' ? Number((c.ipv6Subnet!.ip >> 64n) & 0xffffn) : -1;
      assert.ok(got >= 1 && got <= 15 && !taken.includes(got), String(got));
    }));
});

test('IPv6-only: the full-pool message names IPv6Network and IPv6SubnetLen, not the unused IPv4 fields', () => {
  const msg = poolExhaustedMessage(config, '/p/subnets');
  assert.match(msg, /^no free IPv6 subnet in IPv6Network fd00:40::\/60: all \/64 subnets are leased; .*etcdctl del \/p\/subnets\/<subnet key>\)$/);
  assert.doesNotMatch(msg, /0\.0\.0\.0/);
});
