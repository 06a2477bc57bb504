import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { dstKey, planRoutes, routeSatisfies } from '../../src/netlink/route-plan.js';
import { TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute, type RouteSpec } from '../../src/netlink/routes.js';
import { makeNet, parseCidr, parseIPv4, type Ipv4Net } from '../../src/net/ipv4.js';

const ip = (s: string): number => parseIPv4(s) as number;
const net = (s: string): Ipv4Net => parseCidr(s) as Ipv4Net;
const EXT = 3;

function want(dst: string, gw: string): RouteSpec {
  return { dst: net(dst), gateway: ip(gw), oif: EXT };
}

function kernel(dst: string, gw: string | null, over: Partial<KernelRoute> = {}): KernelRoute {
  return {
    dst: net(dst), gateway: gw === null ? null : ip(gw), oif: EXT, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL,
    scope: gw === null ? 253 : 0, type: 1, onlink: false, priority: null, prefsrc: null, ...over,
  };
}

const ours = (r: KernelRoute): boolean => r.protocol === TSFLANNELD_ROUTE_PROTOCOL && r.oif === EXT;

test('missing routes are added, identical ones kept, differing ones replaced, unbacked owned ones removed', () => {
  const plan = planRoutes({
    desired: [want('10.5.1.0/24', '192.0.2.1'), want('10.5.2.0/24', '192.0.2.2'), want('10.5.3.0/24', '192.0.2.3')],
    actual: [
      kernel('10.5.2.0/24', '192.0.2.2'),
      kernel('10.5.3.0/24', '192.0.2.99'),
      kernel('10.5.9.0/24', '192.0.2.9'),
      kernel('192.0.2.0/24', null, { protocol: 2 }),
    ],
    owned: ours,
  });
  assert.deepEqual(plan.add.map(dstKey), ['10.5.1.0/24']);
  assert.deepEqual(plan.replace.map((r) => [dstKey(r.want), r.have.gateway]), [['10.5.3.0/24', ip('192.0.2.99')]]);
  assert.deepEqual(plan.remove.map(dstKey), ['10.5.9.0/24']);
  assert.equal(plan.unchanged, 1);
});

test('a route to our destination that is not ours (another protocol, device or onlink flag) is replaced', () => {
  for (const have of [
    kernel('10.5.2.0/24', '192.0.2.2', { protocol: 3 }),
    kernel('10.5.2.0/24', '192.0.2.2', { oif: 9 }),
    kernel('10.5.2.0/24', '192.0.2.2', { onlink: true }),
  ]) {
    const plan = planRoutes({ desired: [want('10.5.2.0/24', '192.0.2.2')], actual: [have], owned: ours });
    assert.equal(plan.replace.length, 1, JSON.stringify(have));
    assert.equal(plan.unchanged, 0);
  }
});

test('routes that are not owned are never removed, whatever their destination', () => {
  const plan = planRoutes({
    desired: [],
    actual: [kernel('10.5.9.0/24', '192.0.2.9', { protocol: 3 }), kernel('10.5.8.0/24', '192.0.2.8', { oif: 9 })],
    owned: ours,
  });
  assert.deepEqual(plan.remove, []);
});

test('a route in another table does not satisfy a main-table wish', () => {
  const plan = planRoutes({ desired: [want('10.5.2.0/24', '192.0.2.2')], actual: [kernel('10.5.2.0/24', '192.0.2.2', { table: 100 })], owned: ours });
  assert.equal(plan.add.length, 1);
});

test('routeSatisfies fills the defaults a RouteSpec leaves unset', () => {
  assert.equal(routeSatisfies(kernel('10.5.2.0/24', '192.0.2.2'), want('10.5.2.0/24', '192.0.2.2')), true);
  assert.equal(routeSatisfies(kernel('10.5.0.0/16', null), { dst: net('10.5.0.0/16'), oif: EXT }), true);
  assert.equal(routeSatisfies(kernel('10.5.0.0/16', null, { scope: 0 }), { dst: net('10.5.0.0/16'), oif: EXT }), false);
});

test('property: applying the plan to the kernel table yields exactly the desired routes plus the unowned ones', () => {
  const arbDst = fc.integer({ min: 0, max: 15 }).map((i) => makeNet(ip('10.5.0.0') + i * 256, 24));
  const arbGw = fc.integer({ min: 1, max: 4 }).map((i) => ip('192.0.2.0') + i);
  const arbKernel = fc.record({ dst: arbDst, gw: arbGw, mine: fc.boolean() }).map(({ dst, gw, mine }): KernelRoute => ({
    dst, gateway: gw, oif: EXT, table: 254, protocol: mine ? TSFLANNELD_ROUTE_PROTOCOL : 3, scope: 0, type: 1,
    onlink: false, priority: null, prefsrc: null,
  }));
  fc.assert(fc.property(
    fc.uniqueArray(fc.record({ dst: arbDst, gw: arbGw }), { selector: (r) => r.dst.ip }),
    fc.uniqueArray(arbKernel, { selector: (r) => r.dst.ip }),
    (wishes, actual) => {
      const desired: RouteSpec[] = wishes.map((w) => ({ dst: w.dst, gateway: w.gw, oif: EXT }));
      const plan = planRoutes({ desired, actual, owned: ours });
      // Simulate the kernel: replace by dst, delete removed.
      const table = new Map(actual.map((r) => [dstKey(r), r]));
      for (const r of plan.remove) table.delete(dstKey(r));
      for (const w of [...plan.add, ...plan.replace.map((x) => x.want)]) {
        table.set(dstKey(w), { ...kernelFromSpec(w) });
      }
      for (const w of desired) assert.ok(routeSatisfies(table.get(dstKey(w))!, w));
      const wanted = new Set(desired.map(dstKey));
      for (const [key, r] of table) if (!wanted.has(key)) assert.equal(ours(r), false, `owned leftover ${key}`);
      assert.equal(plan.add.length + plan.replace.length + plan.unchanged, desired.length);
    },
  ));
});

function kernelFromSpec(w: RouteSpec): KernelRoute {
  return {
    dst: w.dst, gateway: w.gateway ?? null, oif: w.oif ?? null, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL,
    scope: w.gateway == null ? 253 : 0, type: 1, onlink: false, priority: null, prefsrc: null,
  };
}
