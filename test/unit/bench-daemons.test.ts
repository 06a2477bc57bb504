// How the benchmark starts tsflanneld: as the shipped unit does (its NODE_OPTIONS, a private cache directory).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UNIT_NODE_OPTIONS, unitLauncher } from '../../bench/daemons.js';

const SYSTEMD = path.resolve(__dirname, '..', '..', '..', 'systemd');

describe('bench daemons', () => {
  it('passes the units\' NODE_OPTIONS and a cache directory, through env, which execs node (same PID)', () => {
    for (const unit of ['tsflanneld.service', 'tsflanneld-hardened.service']) {
      const text = fs.readFileSync(path.join(SYSTEMD, unit), 'utf8');
      assert.match(text, /^CacheDirectory=tsflanneld$/m, `${unit} has the cache directory the bench stands in for`);
      const line = text.split('\n').find((l) => l.startsWith('Environment=NODE_OPTIONS='));
      assert.equal(line, `Environment=NODE_OPTIONS=${UNIT_NODE_OPTIONS}`, unit);
    }
    assert.deepEqual(unitLauncher('/tmp/x/h1-cache'),
      ['env', 'CACHE_DIRECTORY=/tmp/x/h1-cache', `NODE_OPTIONS=${UNIT_NODE_OPTIONS}`]);
  });
});
