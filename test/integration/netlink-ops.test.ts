// src/netlink against a real kernel, inside a namespace of our own: idempotent ensure/replace/delete, error codes,
// route lookup, interface choice, and a request burst that overflows the socket without aborting the process.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ipIn, labUnavailable, nlOps, NsLab, routeLines, type OpResult } from '../support/nl-lab.js';

const skip = labUnavailable();
let lab: NsLab;
let ns: string;
let A: string; // 192.0.2.1/24, carries the default route
let B: string; // 198.51.100.1/24

before(async () => {
  if (skip) return;
  lab = await NsLab.create();
  ns = await lab.netns('ops');
  A = lab.dev('a');
  B = lab.dev('b');
  await ipIn(ns, 'link', 'add', A, 'type', 'veth', 'peer', 'name', B);
  await ipIn(ns, 'addr', 'add', '192.0.2.1/24', 'dev', A);
  await ipIn(ns, 'addr', 'add', '198.51.100.1/24', 'dev', B);
  await ipIn(ns, 'link', 'set', A, 'up');
  await ipIn(ns, 'link', 'set', B, 'up');
  await ipIn(ns, 'route', 'add', 'default', 'via', '192.0.2.254', 'dev', A);
});

after(async () => {
  if (lab) await lab.destroy();
});

function values(results: OpResult[]): unknown[] {
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`op ${i} failed: ${r.message}`);
    return r.value;
  });
}

test('links: look up by name and index, missing ones are null, MTU and MAC are set', { skip: skip ?? false }, async () => {
  const [link, missing, , , ] = values(await nlOps(ns, [
    { op: 'getLinkByName', name: A },
    { op: 'getLinkByName', name: 'nosuchlink0' },
    { op: 'setLinkMtu', name: B, mtu: 1400 },
    { op: 'setLinkMac', name: B, mac: '0e:2a:00:00:00:01' },
  ])) as [{ index: number; kind: string; up: boolean; mtu: number }, null, null, null];
  assert.equal(link.kind, 'veth');
  assert.equal(link.up, true);
  assert.equal(link.mtu, 1500);
  assert.equal(missing, null);
  const shown = await ipIn(ns, 'link', 'show', B);
  assert.match(shown, /mtu 1400 /);
  assert.match(shown, /link\/ether 0e:2a:00:00:00:01 /);
  const [byIndex, goneIndex] = values(await nlOps(ns, [
    { op: 'getLinkByIndex', index: link.index },
    { op: 'getLinkByIndex', index: 99999 },
  ])) as [{ name: string }, null];
  assert.equal(byIndex.name, A);
  assert.equal(goneIndex, null);
});

test('addresses: ensure twice gives one address, delete twice reports present then absent', { skip: skip ?? false }, async () => {
  const results = values(await nlOps(ns, [
    { op: 'ensureAddress', name: B, cidr: '10.5.1.0/32' },
    { op: 'ensureAddress', name: B, cidr: '10.5.1.0/32' },
    { op: 'listAddresses', name: B },
  ]));
  assert.deepEqual(results[2], ['198.51.100.1/24', '10.5.1.0/32']);
  assert.equal((await ipIn(ns, '-4', 'addr', 'show', 'dev', B)).match(/inet 10\.5\.1\.0\/32/g)?.length, 1);
  assert.deepEqual(values(await nlOps(ns, [
    { op: 'deleteAddress', name: B, cidr: '10.5.1.0/32' },
    { op: 'deleteAddress', name: B, cidr: '10.5.1.0/32' },
  ])), [true, false]);
  assert.doesNotMatch(await ipIn(ns, '-4', 'addr', 'show', 'dev', B), /10\.5\.1\.0/);
});

test('routes: replace is idempotent and replaces a differing route; delete-if-present; our protocol shows', { skip: skip ?? false }, async () => {
  values(await nlOps(ns, [
    { op: 'replaceRoute', dst: '10.5.2.0/24', gateway: '192.0.2.2', dev: A },
    { op: 'replaceRoute', dst: '10.5.2.0/24', gateway: '192.0.2.2', dev: A },
  ]));
  assert.deepEqual(await routeLines(ns, '10.5.2.0/24'), [`10.5.2.0/24 via 192.0.2.2 dev ${A} proto 84`]);
  values(await nlOps(ns, [{ op: 'replaceRoute', dst: '10.5.2.0/24', gateway: '198.51.100.2', dev: B }]));
  assert.deepEqual(await routeLines(ns, '10.5.2.0/24'), [`10.5.2.0/24 via 198.51.100.2 dev ${B} proto 84`]);
  assert.deepEqual(values(await nlOps(ns, [
    { op: 'deleteRoute', dst: '10.5.2.0/24', gateway: '198.51.100.2', dev: B },
    { op: 'deleteRoute', dst: '10.5.2.0/24', gateway: '198.51.100.2', dev: B },
  ])), [true, false]);
  assert.deepEqual(await routeLines(ns, '10.5.2.0/24'), []);
});

test('routes: onlink lets a gateway off every subnet through; a listed route reads back as written', { skip: skip ?? false }, async () => {
  const [, listed] = values(await nlOps(ns, [
    { op: 'replaceRoute', dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: B, onlink: true },
    { op: 'listRoutes', dev: B, protocol: 84 },
  ])) as [null, Array<Record<string, unknown>>];
  assert.deepEqual(await routeLines(ns, '10.5.3.0/24'), [`10.5.3.0/24 via 10.5.3.0 dev ${B} proto 84 onlink`]);
  assert.deepEqual(listed.map((r) => [r.dst, r.gateway, r.onlink, r.protocol, r.scope]), [['10.5.3.0/24', '10.5.3.0', true, 84, 0]]);
});

test('a delete naming our protocol never removes someone else\'s route', { skip: skip ?? false }, async () => {
  await ipIn(ns, 'route', 'add', '10.5.7.0/24', 'via', '192.0.2.7', 'dev', A, 'proto', 'static');
  const [removed] = values(await nlOps(ns, [{ op: 'deleteRoute', dst: '10.5.7.0/24', protocol: 84 }]));
  assert.equal(removed, false);
  assert.deepEqual(await routeLines(ns, '10.5.7.0/24'), [`10.5.7.0/24 via 192.0.2.7 dev ${A} proto static`]);
});

test('errors come back typed: ENETUNREACH, ENODEV; an absent link deletes as false', { skip: skip ?? false }, async () => {
  const [unreachable, noDevice, noLink] = await nlOps(ns, [
    { op: 'replaceRoute', dst: '10.5.4.0/24', oif: 99999 },
    { op: 'replaceRoute', dst: '10.5.4.0/24', gateway: '203.0.113.9', dev: A },
    { op: 'deleteLink', index: 99999 },
  ]).then(([d, u, l]) => [u, d, l]);
  assert.equal(unreachable?.code, 'ENETUNREACH');
  assert.match(unreachable?.message ?? '', /^replace route 10\.5\.4\.0\/24 via 203\.0\.113\.9 dev #\d+: ENETUNREACH$/);
  assert.equal(noDevice?.code, 'ENODEV');
  assert.deepEqual(noLink, { ok: true, value: false });
  assert.deepEqual(await routeLines(ns, '10.5.4.0/24'), []);
});

test('route lookup answers like `ip route get`; without a route it is ENETUNREACH', { skip: skip ?? false }, async () => {
  const [viaDefault, direct] = values(await nlOps(ns, [
    { op: 'getRoute', dst: '203.0.113.50' },
    { op: 'getRoute', dst: '198.51.100.9' },
  ])) as Array<Record<string, unknown>>;
  const aIndex = Number(/^(\d+):/.exec(await ipIn(ns, 'link', 'show', A))?.[1]);
  assert.equal(viaDefault?.gateway, '192.0.2.254');
  assert.equal(viaDefault?.oif, aIndex);
  assert.equal(viaDefault?.prefsrc, '192.0.2.1');
  assert.equal(direct?.gateway, null);
  assert.equal(direct?.prefsrc, '198.51.100.1');
  const bare = await lab.netns('bare');
  const [none] = await nlOps(bare, [{ op: 'getRoute', dst: '203.0.113.50' }]);
  assert.equal(none?.code, 'ENETUNREACH');
});

test('interface choice: default route, --iface by IP, --iface-regex, --iface-can-reach, and a clear miss', { skip: skip ?? false }, async () => {
  const results = await nlOps(ns, [
    { op: 'chooseIface' },
    { op: 'chooseIface', iface: ['198.51.100.1'] },
    { op: 'chooseIface', ifaceRegex: ['^198\\.51\\.'] },
    { op: 'chooseIface', ifaceCanReach: '198.51.100.77', publicIP: '203.0.113.5' },
    { op: 'chooseIface', iface: ['eth9'] },
  ]);
  const [byDefault, byIp, byRegex, byReach] = values(results.slice(0, 4)) as Array<Record<string, unknown>>;
  assert.deepEqual([byDefault?.name, byDefault?.ifaceAddr, byDefault?.mtu], [A, '192.0.2.1', 1500]);
  assert.deepEqual([byIp?.name, byIp?.ifaceAddr, byIp?.mtu], [B, '198.51.100.1', 1400]);
  assert.equal(byRegex?.name, B);
  assert.deepEqual([byReach?.name, byReach?.ifaceAddr, byReach?.extAddr], [B, '198.51.100.1', '203.0.113.5']);
  const miss = results[4];
  assert.equal(miss?.ok, false);
  assert.match(miss?.message ?? '', /--iface=eth9: no interface has this name; interfaces seen: lo \(127\.0\.0\.1\), /);
  assert.match(miss?.message ?? '', new RegExp(`${A} \\(192\\.0\\.2\\.1\\)`));
});

test('600 requests in flight on a tiny receive buffer: the socket fails, the process lives, errors are typed, the socket comes back', { skip: skip ?? false }, async () => {
  const [r] = await nlOps(ns, [{ op: 'burst', count: 600, recvBufferSize: 1, dev: A, gateway: '192.0.2.2', base: '10.100.0.0/16' }]);
  assert.ok(r?.ok, r?.message);
  const v = r.value as { codes: Record<string, number>; socketFailures: number; routesAfter: number };
  assert.ok((v.codes.ESOCKET ?? 0) > 0, `expected ESOCKET failures, got ${JSON.stringify(v.codes)}`);
  assert.equal(Object.values(v.codes).reduce((a, b) => a + b, 0), 600);
  assert.ok(v.socketFailures >= 1);
  assert.ok(v.routesAfter > 0, 'the replaced socket answered a dump');
});
