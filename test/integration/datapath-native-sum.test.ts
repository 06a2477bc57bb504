// The addon's checksum sum must agree with the pure-JS one for any bytes, offset and length (it replaces it in the
// loop threads). Needs the built addon; skipped with the reason when it is absent.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { foldSum, sumWordsJs } from '../../src/datapath/checksum.js';
import { checksumNative } from '../../src/datapath/native.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, addon: true }) ?? false;

test('native checksumSum equals the JS sum, folded', { skip }, () => {
  const { checksumSum } = checksumNative();
  fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat(9), (bytes, lead) => {
    const buf = new Uint8Array(lead + bytes.length + 3);
    buf.set(bytes, lead);
    assert.equal(checksumSum(buf, lead, bytes.length), foldSum(sumWordsJs(buf, lead, bytes.length)));
  }), { numRuns: 300 });
  assert.throws(() => checksumSum(new Uint8Array(4), 2, 3), /outside the buffer/);
});

test('native checksumSum at its extremes: all-ones bytes up to 64 KiB, every length and alignment around its 128-byte blocks', { skip }, () => {
  const { checksumSum } = checksumNative();
  const ones = new Uint8Array(65536 + 16).fill(0xff);
  for (const len of [65535, 65536]) {
    for (const off of [0, 1, 7, 13]) {
      assert.equal(checksumSum(ones, off, len), foldSum(sumWordsJs(ones, off, len)), `0xff × ${len} at ${off}`);
    }
  }
  const bytes = Uint8Array.from({ length: 600 }, (_, i) => (i * 167 + 89) & 0xff);
  for (let off = 0; off < 9; off++) {
    for (let len = 0; len <= 520; len++) {
      assert.equal(checksumSum(bytes, off, len), foldSum(sumWordsJs(bytes, off, len)), `length ${len} at ${off}`);
    }
  }
});
