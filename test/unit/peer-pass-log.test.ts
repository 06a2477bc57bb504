// kit/peer-log.ts: a small pass logs each peer at info; a burst logs the first few, the rest at debug, and one summary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerPassLog } from '../../src/backend/kit/peer-log.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

const info = (lines: ReadonlyArray<{ level: number; msg?: unknown }>): string[] =>
  lines.filter((l) => l.level === 30).map((l) => String(l.msg));

test('a pass of a few peers: one info line each, no summary', async () => {
  const rec = recordingLogger();
  const log = new PeerPassLog(rec.log, 3);
  await log.pass(async () => {
    log.peer({ subnet: '10.0.1.0/24' }, 'programmed peer');
    log.peer({ subnet: '10.0.2.0/24' }, 'removed peer');
  });
  assert.deepEqual(info(rec.lines), ['programmed peer', 'removed peer']);
});

test('a burst: the first lines at info, the rest at debug, then one summary with the counts; the next pass starts afresh', async () => {
  const rec = recordingLogger();
  const log = new PeerPassLog(rec.log, 3);
  await log.pass(async () => {
    for (let i = 0; i < 1000; i++) log.peer({ subnet: `10.${i >> 8}.${i & 255}.0/24` }, 'programmed peer');
    log.peer({ subnet: '10.9.0.0/24' }, 'removed peer');
  });
  assert.deepEqual(info(rec.lines), ['programmed peer', 'programmed peer', 'programmed peer',
    'peer pass: 1000 × programmed peer, 1 × removed peer (each line at debug beyond the first 3)']);
  assert.equal(rec.lines.filter((l) => l.level === 20).length, 998);
  const summary = rec.lines.find((l) => String(l.msg).startsWith('peer pass'));
  assert.deepEqual((summary as unknown as { counts: unknown }).counts, { 'programmed peer': 1000, 'removed peer': 1 });
  rec.lines.length = 0;
  await log.pass(async () => log.peer({ subnet: '10.0.1.0/24' }, 'programmed peer'));
  assert.deepEqual(info(rec.lines), ['programmed peer']);
});

test('a pass that throws still ends (its summary is written) and the error goes on', async () => {
  const rec = recordingLogger();
  const log = new PeerPassLog(rec.log, 1);
  await assert.rejects(log.pass(async () => {
    log.peer({}, 'programmed peer');
    log.peer({}, 'programmed peer');
    throw new Error('boom');
  }), /boom/);
  assert.ok(info(rec.lines).some((m) => m.startsWith('peer pass: 2 × programmed peer')));
});
