// sd_notify through the native addon, received on a real unix datagram socket (path and abstract names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NotifyListener } from '../support/notify-listener.js';
import { notifyReady, notifyStopping, sdNotify } from '../../src/ops/sd-notify.js';

const skip = spawnSync('sh', ['-c', 'command -v python3'], { stdio: 'ignore' }).status === 0 ? false : 'needs python3 for the test socket';

test('nothing is sent and false returned when NOTIFY_SOCKET is unset', () => {
  const saved = process.env.NOTIFY_SOCKET;
  delete process.env.NOTIFY_SOCKET;
  try {
    assert.equal(sdNotify('READY=1'), false);
  } finally {
    if (saved !== undefined) process.env.NOTIFY_SOCKET = saved;
  }
});

test('READY=1 with STATUS and STOPPING=1 arrive on $NOTIFY_SOCKET', { skip }, async () => {
  const listener = await NotifyListener.start('/nonexistent');
  const saved = process.env.NOTIFY_SOCKET;
  process.env.NOTIFY_SOCKET = listener.socketPath;
  try {
    assert.equal(notifyReady('Lease 10.5.52.0/24'), true);
    assert.equal(notifyStopping(), true);
    assert.equal((await listener.waitFor('READY=1')).data, 'READY=1\nSTATUS=Lease 10.5.52.0/24');
    assert.equal((await listener.waitFor('STOPPING=1')).data, 'STOPPING=1\nSTATUS=Exiting');
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
    await listener.stop();
  }
});

test('an abstract socket name (@…) is honoured', { skip }, async () => {
  const name = `@tsf-notify-${randomBytes(4).toString('hex')}`;
  const listener = await NotifyListener.start('/nonexistent', name);
  try {
    assert.equal(sdNotify('STATUS=abstract', name), true);
    assert.equal((await listener.waitFor('STATUS=abstract')).data, 'STATUS=abstract');
  } finally {
    await listener.stop();
  }
});

test('a socket that is not there is logged and reported as false, never thrown', () => {
  assert.equal(sdNotify('READY=1', '/nonexistent/dir/notify.sock'), false);
});
