import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lifecycle } from '../../src/lifecycle.js';

test('hooks run in attach order, each awaited before the next, only for their own point', async () => {
  const seen: string[] = [];
  const lc = new Lifecycle()
    .on('stopping', async () => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push('first');
    })
    .on('stopping', () => { seen.push('second'); })
    .on('ready', () => { seen.push('ready'); });
  await lc.run('stopping', {});
  assert.deepEqual(seen, ['first', 'second']);
});

test('a failing hook rejects the run', async () => {
  const lc = new Lifecycle().on('stopping', () => { throw new Error('boom'); });
  await assert.rejects(lc.run('stopping', {}), /boom/);
});

test('notices reach every observer in order, and a failing observer neither stops the others nor the caller', () => {
  const seen: string[] = [];
  const lc = new Lifecycle()
    .observe('etcdError', (op) => { seen.push(`a:${op}`); })
    .observe('etcdError', () => { throw new Error('boom'); })
    .observe('etcdError', (op) => { seen.push(`c:${op}`); })
    .observe('netlinkOperation', () => { seen.push('netlink'); });
  lc.notify('etcdError', 'renew_lease');
  assert.deepEqual(seen, ['a:renew_lease', 'c:renew_lease']);
});
