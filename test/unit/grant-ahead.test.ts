import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expiryOf, GRANT_AHEAD_MAX_AGE_MS, GrantAhead } from '../../src/subnet/grant-ahead.js';

/** A grant service counting its calls: ids g1, g2, … in the order asked; `fail` makes the next ask fail. */
function fakeEtcd() {
  const e = { asked: [] as number[], revoked: [] as string[], fail: false, clock: 1_000,
    grant: async (ttl: number) => {
      e.asked.push(ttl);
      if (e.fail) { e.fail = false; throw new Error('etcd unavailable'); }
      return { ID: `g${e.asked.length}`, TTL: String(ttl) };
    },
    revoke: async (id: string) => { e.revoked.push(id); } };
  return e;
}
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('etcd lease grant asked ahead', () => {
  it('the next take with the same TTL gets the grant asked ahead, once; its expiry counts from the ask', async () => {
    const e = fakeEtcd();
    const g = new GrantAhead(e.grant, e.revoke, () => e.clock);
    g.ask(86400);
    e.clock += 40;
    const first = await g.take(86400);
    assert.deepEqual(first, { ID: 'g1', TTL: '86400', askedAtMs: 1_000 });
    assert.equal(expiryOf(first).getTime(), 1_000 + 86_400_000);
    assert.equal((await g.take(86400)).ID, 'g2', 'taken once: the next take grants anew');
    g.drop();
    await settle();
    assert.deepEqual([e.asked.length, e.revoked], [2, []]);
  });

  it('another TTL, an old grant or a failed one: a fresh grant, and a granted unused one is revoked', async () => {
    const e = fakeEtcd();
    const g = new GrantAhead(e.grant, e.revoke, () => e.clock);
    g.ask(60);
    assert.deepEqual({ ...(await g.take(120)), askedAtMs: 0 }, { ID: 'g2', TTL: '120', askedAtMs: 0 });
    g.ask(60);
    e.clock += GRANT_AHEAD_MAX_AGE_MS + 1;
    assert.equal((await g.take(60)).ID, 'g4');
    e.fail = true;
    g.ask(60);
    assert.equal((await g.take(60)).ID, 'g6');
    await settle();
    assert.deepEqual(e.revoked, ['g1', 'g3']);
  });

  it('drop revokes a grant nobody took; a second ask while one is pending asks nothing', async () => {
    const e = fakeEtcd();
    const g = new GrantAhead(e.grant, e.revoke, () => e.clock);
    g.ask(60);
    g.ask(60);
    g.drop();
    await settle();
    assert.deepEqual([e.asked, e.revoked], [[60], ['g1']]);
    assert.equal((await g.take(60)).ID, 'g2', 'after a drop a take grants anew');
    g.ask(0);
    assert.equal(e.asked.length, 2, 'no TTL, no grant (a reservation)');
  });
});
