import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applySteps } from '../../src/backend/kit/apply-steps.js';
import type { PeerStep } from '../../src/backend/kit/peer-diff.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('applySteps (peers programmed side by side)', () => {
  it('keeps each key\'s steps in order, runs every step once, never more than `width` at once', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ key: fc.integer({ min: 0, max: 6 }), remove: fc.boolean(), waits: fc.integer({ min: 0, max: 3 }) }),
        { maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      async (spec, width) => {
        const steps: Array<PeerStep<number>> = spec.map((s, i) => (s.remove
          ? { op: 'remove', key: `k${s.key}` } : { op: 'set', key: `k${s.key}`, peer: i }));
        const done: number[] = [];
        let inFlight = 0;
        let most = 0;
        const busyKeys = new Set<string>();
        await applySteps(steps, async (step) => {
          const i = steps.indexOf(step);
          assert.ok(!busyKeys.has(step.key), `two steps of ${step.key} at once`);
          busyKeys.add(step.key);
          inFlight++;
          most = Math.max(most, inFlight);
          for (let n = 0; n < spec[i]!.waits; n++) await tick();
          inFlight--;
          busyKeys.delete(step.key);
          done.push(i);
        }, width);
        assert.deepEqual([...done].sort((a, b) => a - b), steps.map((_, i) => i));
        assert.ok(most <= width, `${most} in flight with width ${width}`);
        for (const key of new Set(steps.map((s) => s.key))) {
          const order = done.filter((i) => steps[i]!.key === key);
          assert.deepEqual(order, [...order].sort((a, b) => a - b), `order of ${key}`);
        }
      }), { numRuns: 200 });
  });

  it('runs the other steps when one fails, then throws the first failure', async () => {
    const ran: string[] = [];
    const steps: Array<PeerStep<number>> = ['a', 'b', 'c'].map((key) => ({ op: 'remove', key }));
    await assert.rejects(applySteps(steps, async (s) => {
      ran.push(s.key);
      if (s.key === 'a') throw new Error('boom a');
    }), /boom a/);
    assert.deepEqual(ran.sort(), ['a', 'b', 'c']);
  });
});
