// The health server on loopback: an idle server keeps no timer (nothing wakes an idle daemon for it), and a client
// that never finishes its request is still disconnected.
import { strict as assert } from 'node:assert';
import { createHook } from 'node:async_hooks';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { startHealthServer } from '../../src/ops/http.js';
import { Readiness } from '../../src/ops/readiness.js';

describe('health server while idle', () => {
  it('starts no timer that would fire until a connection arrives', async () => {
    // Node keeps a timer's delay in `_idleTimeout` (internal, unchanged for a decade); one that cannot fire within
    // an hour wakes nobody.
    let timers = 0;
    const hook = createHook({ init: (_id, type, _trigger, resource) => {
      const delay = (resource as { _idleTimeout?: number })._idleTimeout;
      if (type === 'Timeout' && (delay === undefined || delay <= 3_600_000)) timers++;
    } }).enable();
    const server = await startHealthServer({ ip: '127.0.0.1', port: 0, readiness: new Readiness(), registry: async () => {
      throw new Error('not in this test');
    } });
    await new Promise((resolve) => setImmediate(resolve)); // past the 'listening' callbacks
    hook.disable();
    await server.close();
    assert.equal(timers, 0, 'the idle health server armed a timer');
  });

  it('disconnects a client whose request never completes, and still answers the next one', async () => {
    const server = await startHealthServer({ ip: '127.0.0.1', port: 0, readiness: new Readiness(), requestTimeoutMs: 300,
      registry: async () => { throw new Error('not in this test'); } });
    try {
      const port = server.address.port;
      const slow = net.connect(port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
      slow.on('error', () => undefined);
      slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // the headers never end
      await closed; // the test times out if the server keeps it
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'flanneld is running');
    } finally {
      await server.close();
    }
  });
});
