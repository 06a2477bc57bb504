import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readConfigTexts } from '../../src/subnet/config-source.js';
import type { LeaseRegistry } from '../../src/subnet/registry.js';
import { EtcdV2Error } from '../../src/subnet/v2/client.js';

/** Only what readConfigTexts reads of a registry: its API and getConfigText. */
function store(api: 'v3' | 'v2', read: () => Promise<string | null>): LeaseRegistry {
  return { api, getConfigText: read } as unknown as LeaseRegistry;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

test('auto asks the v2 store while the v3 read is still out (one round trip of waiting, not two)', async () => {
  const v3 = deferred<string | null>();
  let v2Asked = false;
  const reading = readConfigTexts([store('v3', () => v3.promise), store('v2', async () => { v2Asked = true; return null; })]);
  await new Promise((r) => setImmediate(r));
  assert.equal(v2Asked, true);
  v3.resolve('{"Network":"10.5.0.0/16"}');
  assert.deepEqual([...await reading], [['v3', '{"Network":"10.5.0.0/16"}'], ['v2', null]]);
});

test('a v2 store that is turned off (404) counts as no config; other errors reject, the v3 one first', async () => {
  const off = new EtcdV2Error(404, 'Not Found', '', 0);
  assert.deepEqual([...await readConfigTexts([store('v3', async () => 'x'), store('v2', async () => { throw off; })])],
    [['v3', 'x'], ['v2', null]]);
  const v3Down = new Error('v3 down');
  await assert.rejects(readConfigTexts([store('v3', async () => { throw v3Down; }), store('v2', async () => { throw new Error('v2 down'); })]),
    /v3 down/);
  await assert.rejects(readConfigTexts([store('v2', async () => { throw off; })]), EtcdV2Error);
});
