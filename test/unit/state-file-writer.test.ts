// The status file is written when its content changes, never just because time passed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { readLiveState, StateFileWriter } from '../../src/ops/state-file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-state-writer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = { pid: process.pid, subnet: '10.5.1.0/24', publicIP: '192.0.2.1', backendType: 'vxlan', mtu: 1450,
  healthz: null, counters: { tx_packets: 0 }, peers: 0 };

describe('StateFileWriter', () => {
  it('writes the first state, skips an unchanged one, and writes a changed one with its time', () => {
    const file = path.join(dir, 'a.json');
    const w = new StateFileWriter(file);
    assert.equal(w.write(base, new Date('2026-01-01T00:00:00Z')), true);
    fs.rmSync(file); // a rewrite of the same content would bring it back
    assert.equal(w.write({ ...base }, new Date('2026-01-01T00:00:05Z')), false);
    assert.equal(fs.existsSync(file), false);
    assert.equal(w.write({ ...base, peers: 3 }, new Date('2026-01-01T00:00:10Z')), true);
    const state = readLiveState(file);
    assert.equal(state?.peers, 3);
    assert.equal(state?.updated, '2026-01-01T00:00:10.000Z');
  });

  it('tries again after a failed write', () => {
    const file = path.join(dir, 'missing-dir', 'b.json');
    const w = new StateFileWriter(file);
    assert.throws(() => w.write(base));
    fs.mkdirSync(path.dirname(file));
    assert.equal(w.write(base), true);
    assert.equal(readLiveState(file)?.subnet, '10.5.1.0/24');
  });
});
