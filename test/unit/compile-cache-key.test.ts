import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileCacheKey, SETTLED_MS, type FileIdentity } from '../../src/compile-cache-key.js';

const NOW = 1_800_000_000_000;
const ms = (t: number): bigint => BigInt(t) * 1_000_000n;
const file = (over: Partial<FileIdentity> = {}): FileIdentity =>
  ({ dev: 2049n, ino: 77n, size: 1852510n, mtimeNs: ms(NOW - 60_000), ctimeNs: ms(NOW - 60_000), ...over });

describe('code cache entry name', () => {
  it('a settled file is named by its identity: its text is not hashed, any change of identity renames it', () => {
    const base = compileCacheKey('/b.js', 'a', file(), NOW);
    assert.equal(compileCacheKey('/b.js', 'other text', file(), NOW), base, 'the text is not read for a settled file');
    for (const over of [{ dev: 1n }, { ino: 78n }, { size: 1n }, { mtimeNs: ms(NOW - 50_000) }, { ctimeNs: ms(NOW - 50_000) }])
      assert.notEqual(compileCacheKey('/b.js', 'a', file(over), NOW), base, JSON.stringify(over, (_k, v: unknown) => String(v)));
    assert.notEqual(compileCacheKey('/c.js', 'a', file(), NOW), base, 'the path is part of the name');
  });

  it('a file changed in the last second, ahead of the clock or not stat-able is named by its text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 1, max: 10_000_000 }), (a, b, ageInv) => {
        const recent = file({ ctimeNs: ms(NOW - SETTLED_MS + ageInv) }); // ctime later than NOW - SETTLED_MS
        for (const stat of [recent, null]) {
          assert.equal(compileCacheKey('/m.js', a, stat, NOW) === compileCacheKey('/m.js', b, stat, NOW), a === b);
          assert.equal(compileCacheKey('/m.js', a, stat, NOW), compileCacheKey('/m.js', a, null, NOW), 'the identity plays no part');
        }
      }),
    );
  });

  it('the two kinds of names never meet', () => {
    assert.notEqual(compileCacheKey('/m.js', 'x', file(), NOW), compileCacheKey('/m.js', 'x', null, NOW));
    assert.match(compileCacheKey('/m.js', 'x', file(), NOW), /^[0-9a-f]{40}$/);
  });
});
