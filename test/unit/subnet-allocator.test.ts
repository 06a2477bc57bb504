import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { NetworkConfig } from '../../src/config/network-config.js';
import { chooseSubnet, lowestFreeSubnets, mergedRanges, CANDIDATE_LIMIT } from '../../src/subnet/allocator.js';
import { renewDelayMs, renewRetryMs } from '../../src/subnet/lease-manager.js';
import { formatCidr, makeNet, netsOverlap, parseCidr, parseIPv4, prefixSize, type Ipv4Net } from '../../src/net/ipv4.js';
import type { Lease } from '../../src/subnet/lease.js';

function config(network: string, subnetLen: number, min?: string, max?: string): NetworkConfig {
  const net = parseCidr(network)!;
  const size = prefixSize(subnetLen);
  return {
    enableIPv4: true, enableIPv6: false, enableNFTables: false, network: net, subnetLen,
    subnetMin: min ? parseIPv4(min)! : net.ip + size,
    subnetMax: max ? parseIPv4(max)! : net.ip + prefixSize(net.prefixLen) - size,
    backend: { type: 'alloc', raw: {} },
  };
}

function lease(cidr: string | Ipv4Net, publicIP = '192.0.2.99', etcdLeaseId = '7'): Lease {
  const subnet = typeof cidr === 'string' ? parseCidr(cidr)! : cidr;
  return { subnet, attrs: { publicIP, publicIPv6: null }, expiration: null, etcdLeaseId, revision: '1' };
}

const first = (): number => 0;

describe('chooseSubnet', () => {
  const cfg = config('10.0.0.0/16', 24);

  it('reuses our own lease by PublicIP', () => {
    const own = lease('10.0.7.0/24', '192.0.2.1');
    const r = chooseSubnet({ config: cfg, leases: [lease('10.0.1.0/24'), own], publicIP: '192.0.2.1', previous: parseCidr('10.0.9.0/24'), random: first });
    assert.equal(r.kind, 'own');
    assert.equal(r.kind === 'own' && r.lease, own);
  });

  it('reports an own lease that does not fit, and goes on', () => {
    const misfit = lease('10.9.0.0/24', '192.0.2.1');
    const r = chooseSubnet({ config: cfg, leases: [misfit], publicIP: '192.0.2.1', previous: null, random: first });
    assert.equal(r.kind, 'new');
    assert.deepEqual(r.staleOwn, [misfit]);
  });

  it('honours the previous subnet when free and in range', () => {
    const r = chooseSubnet({ config: cfg, leases: [lease('10.0.1.0/24')], publicIP: '192.0.2.1', previous: parseCidr('10.0.42.0/24'), random: first });
    assert.deepEqual(r, { kind: 'previous', subnet: parseCidr('10.0.42.0/24'), ipv6Subnet: null, staleOwn: [] });
  });

  it('ignores a previous subnet that is taken or outside the pool', () => {
    for (const prev of ['10.0.1.0/24', '10.0.0.0/24', '10.1.5.0/24', '10.0.4.0/25']) {
      const r = chooseSubnet({ config: cfg, leases: [lease('10.0.1.0/24')], publicIP: '192.0.2.1', previous: parseCidr(prev), random: first });
      assert.equal(r.kind, 'new', prev);
    }
  });

  it('picks among the lowest 100 free subnets, skipping the first subnet', () => {
    const lowest = chooseSubnet({ config: cfg, leases: [], publicIP: '192.0.2.1', previous: null, random: first });
    assert.equal(lowest.kind === 'new' && formatCidr(lowest.subnet), '10.0.1.0/24');
    const highest = chooseSubnet({ config: cfg, leases: [], publicIP: '192.0.2.1', previous: null, random: () => 0.999999 });
    assert.equal(highest.kind === 'new' && formatCidr(highest.subnet), `10.0.${CANDIDATE_LIMIT}.0/24`);
  });

  it('counts an overlapping key of another length as taken', () => {
    const small = config('10.0.0.0/24', 28);
    const r = chooseSubnet({ config: small, leases: [lease('10.0.0.0/26')], publicIP: '192.0.2.1', previous: null, random: first });
    assert.equal(r.kind === 'new' && formatCidr(r.subnet), '10.0.0.64/28');
  });

  it('says full when every subnet is taken', () => {
    const tiny = config('10.0.0.0/28', 30);
    const leases = ['10.0.0.4/30', '10.0.0.8/30', '10.0.0.12/30'].map((c) => lease(c));
    assert.equal(chooseSubnet({ config: tiny, leases, publicIP: '192.0.2.1', previous: null, random: first }).kind, 'full');
  });

  it('is fast on a /8 pool with many leases', () => {
    const big = config('10.0.0.0/8', 24);
    const leases: Lease[] = [];
    for (let i = 1; i < 60000; i++) leases.push(lease(makeNet(parseIPv4('10.0.0.0')! + i * 256, 24)));
    const t0 = process.hrtime.bigint();
    const r = chooseSubnet({ config: big, leases, publicIP: '192.0.2.1', previous: null, random: first });
    assert.equal(r.kind === 'new' && formatCidr(r.subnet), '10.234.96.0/24');
    // Not a timing threshold for pass/fail of behaviour; guards against an O(leases × candidates) walk.
    assert.ok(Number(process.hrtime.bigint() - t0) < 5e9);
  });

  it('never returns a taken or out-of-range subnet, and finds one whenever any is free', () => {
    const arb = fc.record({
      subnetLen: fc.integer({ min: 26, max: 30 }),
      taken: fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 30 })), { maxLength: 40 }),
      minIdx: fc.integer({ min: 0, max: 3 }),
      rnd: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    });
    fc.assert(fc.property(arb, ({ subnetLen, taken, minIdx, rnd }) => {
      const net = parseCidr('10.1.2.0/24')!;
      const size = prefixSize(subnetLen);
      const cfg2: NetworkConfig = { ...config('10.1.2.0/24', subnetLen), subnetMin: net.ip + minIdx * size };
      const leases = taken.map(([off, len]) => lease(makeNet(net.ip + off, len)));
      const r = chooseSubnet({ config: cfg2, leases, publicIP: '192.0.2.1', previous: null, random: () => rnd });
      const all: Ipv4Net[] = [];
      for (let ip = cfg2.subnetMin; ip <= cfg2.subnetMax; ip += size) all.push({ ip, prefixLen: subnetLen });
      const free = all.filter((s) => !leases.some((l) => netsOverlap(l.subnet, s)));
      if (free.length === 0) {
        assert.equal(r.kind, 'full');
        return;
      }
      assert.equal(r.kind, 'new');
      if (r.kind !== 'new') return;
      assert.ok(free.some((s) => s.ip === r.subnet.ip && s.prefixLen === r.subnet.prefixLen));
      assert.deepEqual(lowestFreeSubnets(cfg2, mergedRanges(leases.map((l) => l.subnet)), 1000), free.map((s) => s.ip));
    }), { numRuns: 300 });
  });
});

describe('renewal schedule', () => {
  const now = 1_000_000;
  it('renews at expiry minus the margin for 24 h leases', () => {
    const d = renewDelayMs({ expiration: new Date(now + 86_400_000), now, ttlSeconds: 86400, renewMarginMinutes: 60, random: 0.5 });
    assert.equal(d, 23 * 3600_000);
  });
  it('renews between 1/2 and 2/3 of a short TTL', () => {
    for (const random of [0, 0.5, 0.999]) {
      const d = renewDelayMs({ expiration: new Date(now + 10_000), now, ttlSeconds: 10, renewMarginMinutes: 60, random });
      assert.ok(d >= 5000 && d <= 6667, String(d));
    }
  });
  it('retries a failed renewal every minute, sooner for short TTLs', () => {
    assert.equal(renewRetryMs(86400), 60_000);
    assert.equal(renewRetryMs(10), 1000);
  });
});
