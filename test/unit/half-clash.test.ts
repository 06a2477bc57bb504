import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { earlierClaimOfAHalf } from '../../src/subnet/half-clash.js';
import { parseCidr } from '../../src/net/ipv4.js';
import { parseCidr6 } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';

function lease(v4: string, v6: string | null, revision: number): Lease {
  return { subnet: parseCidr(v4)!, ipv6Subnet: v6 === null ? null : parseCidr6(v6), revision: String(revision),
    attrs: { publicIP: '192.0.2.1', publicIPv6: null }, expiration: null, etcdLeaseId: '1' };
}

describe('earlierClaimOfAHalf', () => {
  const ours = lease('10.0.5.0/24', 'fd00:0:0:5::/64', 20);

  it('names an earlier key sharing the IPv4 half, or the IPv6 half', () => {
    const v4 = lease('10.0.5.0/24', 'fd00:0:0:7::/64', 19);
    const v6 = lease('10.0.8.0/24', 'fd00:0:0:5::/64', 18);
    assert.equal(earlierClaimOfAHalf(ours, [ours, v4]), v4);
    assert.equal(earlierClaimOfAHalf(ours, [ours, v6]), v6);
    assert.equal(earlierClaimOfAHalf(ours, [v4, ours, v6]), v6, 'the earliest of several');
  });

  it('an IPv4-only key of an older node clashes with the IPv4 half', () => {
    const plain = lease('10.0.5.0/24', null, 3);
    assert.equal(earlierClaimOfAHalf(ours, [plain, ours]), plain);
  });

  it('leaves ours standing when the sharer came later, or nothing is shared, or the key is ours', () => {
    assert.equal(earlierClaimOfAHalf(ours, [lease('10.0.5.0/24', 'fd00:0:0:7::/64', 21)]), null);
    assert.equal(earlierClaimOfAHalf(ours, [lease('10.0.6.0/24', 'fd00:0:0:6::/64', 1)]), null);
    assert.equal(earlierClaimOfAHalf(ours, [lease('10.0.5.0/24', 'fd00:0:0:5::/64', 2)]), null);
  });

  it('IPv6-only leases share no IPv4 half (all are 0.0.0.0/0) but clash on the IPv6 one', () => {
    const mine = lease('0.0.0.0/0', 'fd00:0:0:5::/64', 20);
    assert.equal(earlierClaimOfAHalf(mine, [lease('0.0.0.0/0', 'fd00:0:0:6::/64', 1)]), null);
    const same6 = lease('10.0.9.0/24', 'fd00:0:0:5::/64', 4);
    assert.equal(earlierClaimOfAHalf(mine, [same6]), same6);
  });
});
