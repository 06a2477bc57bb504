// The datapath loops' worker threads are created with a young generation held at V8's smallest: a loop's warm-up
// garbage must not keep grown semi-spaces resident for the life of an idle loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { startLoopWorker } from '../../src/datapath/loop-worker-start.js';

// Allocates as a warm-up does (many short-lived objects), then reports its new space's committed size.
const BODY = `
const { parentPort, workerData } = require('node:worker_threads');
const v8 = require('node:v8');
let keep = null;
for (let i = 0; i < 200000; i++) keep = { i, s: 'x' + i, a: [i, i + 1] };
const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
workerData.port.postMessage({ newSpace: ns.space_size, kept: keep.i });
`;

test('a loop worker\'s young generation stays at V8\'s smallest (two 1 MiB semi-spaces) through a warm-up', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-loopworker-'));
  try {
    const file = path.join(dir, 'w.js');
    fs.writeFileSync(file, BODY);
    const { port1, port2 } = new MessageChannel();
    const worker = startLoopWorker(file, { port: port2 }, port2);
    const got = await new Promise<{ newSpace: number; kept: number }>((resolve, reject) => {
      port1.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    port1.close();
    assert.equal(got.kept, 199999);
    assert.ok(got.newSpace <= 2 * 1024 * 1024, `new space grew to ${got.newSpace} bytes`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
