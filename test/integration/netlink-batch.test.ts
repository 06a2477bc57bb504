// src/netlink/batch.ts against a real kernel, inside a namespace of our own: requests made in one turn share a
// datagram and one ACK, yet each gets its own outcome; a failing member (in the middle or last) fails alone and the
// others are in the kernel; lookups in the same datagram get their own replies and errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ipIn, labUnavailable, nlOps, NsLab, routeLines } from '../support/nl-lab.js';

const skip = labUnavailable();
let lab: NsLab;
let ns: string;
let A: string; // 192.0.2.1/24, carries the default route

before(async () => {
  if (skip) return;
  lab = await NsLab.create();
  ns = await lab.netns('batch');
  A = lab.dev('a');
  const B = lab.dev('b');
  await ipIn(ns, 'link', 'add', A, 'type', 'veth', 'peer', 'name', B);
  await ipIn(ns, 'addr', 'add', '192.0.2.1/24', 'dev', A);
  await ipIn(ns, 'link', 'set', A, 'up');
  await ipIn(ns, 'link', 'set', B, 'up');
  await ipIn(ns, 'route', 'add', 'default', 'via', '192.0.2.254', 'dev', A);
  await ipIn(ns, 'route', 'add', 'unreachable', '203.0.113.0/24');
});

after(async () => {
  if (lab) await lab.destroy();
});

interface BatchResult {
  readonly results: unknown[];
  readonly datagrams: number;
  readonly requests: number;
}

async function batch(items: Array<Record<string, unknown>>): Promise<BatchResult> {
  const [r] = await nlOps(ns, [{ op: 'batch', items }]);
  assert.ok(r?.ok, r?.message);
  return r.value as BatchResult;
}

test('150 route replaces of one turn go out in a few datagrams; members with a gateway off the link fail alone', { skip: skip ?? false }, async () => {
  // 63 is the last message of the first datagram (the one that carries the ACK request), 70 is in the middle of the next.
  const failing = new Set([63, 70]);
  const items = Array.from({ length: 150 }, (_, i) => ({ op: 'replace', dst: `10.100.${i}.0/24`, dev: A,
    gateway: failing.has(i) ? '198.51.100.9' : '192.0.2.2' }));
  const r = await batch(items);
  assert.equal(r.requests, 150);
  assert.ok(r.datagrams <= 5, `150 requests took ${r.datagrams} datagrams`);
  r.results.forEach((res, i) => assert.equal(res, failing.has(i) ? 'ENETUNREACH' : 'ok', `item ${i}`));
  const routes = (await routeLines(ns)).filter((l) => l.startsWith('10.100.'));
  assert.equal(routes.length, 148);
  for (const i of failing) assert.ok(!routes.some((l) => l.startsWith(`10.100.${i}.0/24 `)), `route ${i} should be absent`);

  // Deletes batch the same way; one of a route that is not there says so without failing the rest.
  const del = await batch(Array.from({ length: 150 }, (_, i) => ({ op: 'delete', dst: `10.100.${i}.0/24` })));
  del.results.forEach((res, i) => assert.equal(res, !failing.has(i), `delete ${i}`));
  assert.deepEqual((await routeLines(ns)).filter((l) => l.startsWith('10.100.')), []);
});

test('lookups share a datagram with changes: each gets its own reply, an unreachable one its own error', { skip: skip ?? false }, async () => {
  const r = await batch([
    { op: 'lookup', dst: '192.0.2.7' },
    { op: 'replace', dst: '10.101.0.0/24', gateway: '192.0.2.2', dev: A },
    { op: 'lookup', dst: '203.0.113.9' },
    { op: 'lookup', dst: '10.101.0.5' },
    { op: 'replace', dst: '10.101.1.0/24', gateway: '192.0.2.3', dev: A },
    { op: 'lookup', dst: '10.200.0.1' },
  ]);
  assert.equal(r.datagrams, 1);
  const [direct, added, unreachable, viaAdded, added2, viaDefault] = r.results as Array<Record<string, unknown> | string>;
  assert.equal((direct as Record<string, unknown>).gateway, null);
  assert.equal(added, 'ok');
  assert.equal(unreachable, 'EHOSTUNREACH');
  // Messages are handled in order: the lookup after the replace sees the new route.
  assert.equal((viaAdded as Record<string, unknown>).gateway, '192.0.2.2');
  assert.equal(added2, 'ok');
  assert.equal((viaDefault as Record<string, unknown>).gateway, '192.0.2.254');
  await ipIn(ns, 'route', 'del', '10.101.0.0/24');
  await ipIn(ns, 'route', 'del', '10.101.1.0/24');
});
