// The lease watch drops etcd3's own per-response listener (src/subnet/registry.ts): this holds the assumptions it
// rests on against the installed etcd3, so that a new etcd3 which moved its bookkeeping makes this fail instead of the
// drop silently doing nothing (or dropping something else).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { dropLibraryBookkeeping } from '../../src/subnet/registry.js';

// Nothing listens there: the watcher only tries to connect, and is detached before the test ends.
const HOST = '127.0.0.1:1';

function response(revision: string): object {
  return { header: { revision }, events: [{ type: 'Put', kv: { key: Buffer.from('k'), mod_revision: revision } }] };
}

describe('a lease watch without etcd3\'s per-response bookkeeping', () => {
  it('etcd3 keeps its resume revision and re-emits events in its one data listener; dropping it stops both', async () => {
    const client = new Etcd3({ hosts: HOST });
    try {
      const kept = client.watch().prefix('/p/').startRevision('5').watcher();
      const dropped = client.watch().prefix('/p/').startRevision('5').watcher();
      for (const w of [kept, dropped]) w.on('error', () => undefined).on('disconnected', () => undefined);
      assert.equal(kept.listeners('data').length, 1, 'etcd3 registers exactly one data listener of its own');
      dropLibraryBookkeeping(dropped);
      assert.equal(dropped.listeners('data').length, 0);
      const puts: string[] = [];
      kept.on('put', () => puts.push('kept'));
      dropped.on('put', () => puts.push('dropped'));
      let seen = 0;
      dropped.on('data', () => { seen++; });
      kept.emit('data', response('9'));
      dropped.emit('data', response('9'));
      assert.deepEqual(puts, ['kept']);
      assert.equal(seen, 1, 'our own listener still gets the response');
      assert.equal(String(kept.lastRevision()), '10');
      assert.equal(String(dropped.lastRevision()), '5');
      await Promise.all([kept.cancel(), dropped.cancel()]);
    } finally {
      client.close();
    }
  });

  it('leaves a watcher of a namespaced client alone (its keys must still be unprefixed)', async () => {
    const client = new Etcd3({ hosts: HOST });
    try {
      const w = client.namespace('/ns/').watch().prefix('/p/').watcher();
      w.on('error', () => undefined).on('disconnected', () => undefined);
      dropLibraryBookkeeping(w);
      assert.equal(w.listeners('data').length, 1);
      await w.cancel();
    } finally {
      client.close();
    }
  });
});
