import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { NetworkConfig } from '../../src/config/network-config.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { chooseSubnet, ipv6SubnetFitsConfig } from '../../src/subnet/allocator.js';
import { lowestFree, mergeRanges } from '../../src/subnet/free-ranges.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { formatCidr6, makeNet6, nets6Overlap, parseCidr6, prefixSize6, type Ipv6Net } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';

const dual = (v6net = 'fd00:10::/56', extra = ''): NetworkConfig =>
  parseNetworkConfig(`{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"${v6net}"${extra}}`);
const v4only = parseNetworkConfig('{"Network":"10.0.0.0/16"}');

function lease(v4: string, v6: string | null, publicIP = '192.0.2.99'): Lease {
  return { subnet: parseCidr(v4) as Ipv4Net, ipv6Subnet: v6 === null ? null : parseCidr6(v6), attrs: { publicIP, publicIPv6: null },
    expiration: null, etcdLeaseId: '7', revision: '1' };
}
const first = (): number => 0;

describe('chooseSubnet, dual stack', () => {
  it('allocates a v6 subnet alongside the v4 one, skipping taken v6 subnets', () => {
    const r = chooseSubnet({ config: dual(), leases: [lease('10.0.1.0/24', 'fd00:10:0:1::/64')], publicIP: '192.0.2.1',
      previous: null, random: first });
    assert.equal(r.kind, 'new');
    if (r.kind !== 'new') return;
    assert.equal(formatCidr6(r.ipv6Subnet!), 'fd00:10:0:2::/64');
  });
  it('an IPv4-only config gives no v6 subnet', () => {
    const r = chooseSubnet({ config: v4only, leases: [], publicIP: '192.0.2.1', previous: null, random: first });
    assert.ok(r.kind === 'new' && r.ipv6Subnet === null);
  });
  it('reuses our dual-stack lease; replaces our v4-only lease when IPv6 is on, and our dual lease when it is off', () => {
    const ours = lease('10.0.7.0/24', 'fd00:10:0:7::/64', '192.0.2.1');
    assert.equal(chooseSubnet({ config: dual(), leases: [ours], publicIP: '192.0.2.1', previous: null, random: first }).kind, 'own');
    const off = chooseSubnet({ config: v4only, leases: [ours], publicIP: '192.0.2.1', previous: null, random: first });
    assert.equal(off.kind, 'new');
    assert.deepEqual(off.staleOwn, [ours]);
    const oldV4 = lease('10.0.7.0/24', null, '192.0.2.1');
    const on = chooseSubnet({ config: dual(), leases: [oldV4], publicIP: '192.0.2.1', previous: null, random: first });
    assert.deepEqual(on.staleOwn, [oldV4]);
  });
  it('takes the previous pair only when both fit and neither is taken', () => {
    const prev = parseCidr('10.0.42.0/24');
    const prev6 = parseCidr6('fd00:10:0:42::/64');
    const ok = chooseSubnet({ config: dual(), leases: [], publicIP: '192.0.2.1', previous: prev, previousIPv6: prev6, random: first });
    assert.deepEqual(ok, { kind: 'previous', subnet: prev, ipv6Subnet: prev6, staleOwn: [] });
    const takenV6 = chooseSubnet({ config: dual(), leases: [lease('10.0.9.0/24', 'fd00:10:0:42::/64')], publicIP: '192.0.2.1',
      previous: prev, previousIPv6: prev6, random: first });
    assert.equal(takenV6.kind, 'new');
    const noV6 = chooseSubnet({ config: dual(), leases: [], publicIP: '192.0.2.1', previous: prev, previousIPv6: null, random: first });
    assert.equal(noV6.kind, 'new');
  });
  it('is full when the v6 pool is full even with v4 subnets left', () => {
    const cfg = dual('fd00:10::/124');
    const leases = [lease('10.0.1.0/24', 'fd00:10::4/126'), lease('10.0.2.0/24', 'fd00:10::8/126'), lease('10.0.3.0/24', 'fd00:10::c/126')];
    assert.equal(chooseSubnet({ config: cfg, leases, publicIP: '192.0.2.1', previous: null, random: first }).kind, 'full');
  });
  it('is exact at the top of the 128-bit space', () => {
    const cfg = dual('ffff:ffff:ffff:fffc::/62');
    const hi = chooseSubnet({ config: cfg, leases: [], publicIP: '192.0.2.1', previous: null, random: () => 0.999999 });
    assert.ok(hi.kind === 'new');
    assert.equal(formatCidr6(hi.ipv6Subnet!), 'ffff:ffff:ffff:ffff::/64');
    assert.equal(hi.ipv6Subnet!.ip, 0xffffffffffffffffn << 64n);
    const lo = chooseSubnet({ config: cfg, leases: [], publicIP: '192.0.2.1', previous: null, random: first });
    assert.ok(lo.kind === 'new');
    assert.equal(formatCidr6(lo.ipv6Subnet!), 'ffff:ffff:ffff:fffd::/64');
    assert.ok(ipv6SubnetFitsConfig(cfg, hi.ipv6Subnet));
  });
});

describe('free ranges (bigint, both families)', () => {
  it('property: lowestFree equals a brute-force walk of the pool, for /120 pools anywhere in the space', () => {
    const arb = fc.record({
      base: fc.bigInt({ min: 0n, max: (1n << 120n) - 1n }).map((b) => b << 8n),
      subnetLen: fc.integer({ min: 122, max: 126 }),
      taken: fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 120, max: 128 })), { maxLength: 30 }),
    });
    fc.assert(fc.property(arb, ({ base, subnetLen, taken }) => {
      const size = prefixSize6(subnetLen);
      const nets: Ipv6Net[] = taken.map(([off, len]) => makeNet6(base + BigInt(off), len));
      const ranges = mergeRanges(nets.map((n) => [n.ip, n.ip + prefixSize6(n.prefixLen) - 1n] as const));
      const want: bigint[] = [];
      for (let ip = base + size; ip <= base + 256n - size; ip += size) {
        if (!nets.some((n) => nets6Overlap(n, { ip, prefixLen: subnetLen }))) want.push(ip);
      }
      assert.deepEqual(lowestFree(base + size, base + 256n - size, size, ranges, 1000), want);
    }), { numRuns: 300 });
  });
});
