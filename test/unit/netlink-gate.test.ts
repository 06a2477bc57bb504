import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExclusiveGate } from '../../src/netlink/limiter.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

test('a dump waits for requests in flight and holds back later requests until it is done', async () => {
  const gate = new ExclusiveGate();
  const order: string[] = [];
  const first = deferred();
  const dumpDone = deferred();
  const a = gate.run(false, async () => { order.push('request A starts'); await first.promise; order.push('request A ends'); });
  const d = gate.run(true, async () => { order.push('dump starts'); await dumpDone.promise; order.push('dump ends'); });
  const b = gate.run(false, async () => { order.push('request B runs'); });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['request A starts']);
  first.resolve();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['request A starts', 'request A ends', 'dump starts']);
  dumpDone.resolve();
  await Promise.all([a, d, b]);
  assert.deepEqual(order, ['request A starts', 'request A ends', 'dump starts', 'dump ends', 'request B runs']);
});

test('requests share the gate with each other', async () => {
  const gate = new ExclusiveGate();
  let concurrent = 0;
  let peak = 0;
  await Promise.all([1, 2, 3].map(() => gate.run(false, async () => {
    peak = Math.max(peak, ++concurrent);
    await new Promise((r) => setImmediate(r));
    concurrent--;
  })));
  assert.equal(peak, 3);
});

test('a failing task releases the gate', async () => {
  const gate = new ExclusiveGate();
  await assert.rejects(gate.run(true, async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await gate.run(true, async () => 'next'), 'next');
});
