import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bundleIsCurrent } from '../../src/launch-target.js';

describe('launch target', () => {
  it('runs the bundle only when it exists and is no older than the last compile', () => {
    assert.equal(bundleIsCurrent(null, null), false, 'no bundle');
    assert.equal(bundleIsCurrent(null, 5), false, 'no bundle');
    assert.equal(bundleIsCurrent(5, null), true, 'a package: no build info, the shipped bundle');
    assert.equal(bundleIsCurrent(10, 10), true);
    assert.equal(bundleIsCurrent(9, 10), false, 'compiled after the bundle was made: old code');
    fc.assert(fc.property(fc.nat(), fc.nat(), (b, c) => bundleIsCurrent(b, c) === (b >= c)));
  });
});
