import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Timeline, formatTimeline } from '../../src/timeline.js';

describe('start-up timeline', () => {
  it('keeps marks made before the logger and logs them, then logs each later mark as it comes', () => {
    let now = 10;
    const t = new Timeline(() => now, () => 7);
    t.mark('cli loaded');
    now = 25;
    t.mark('options parsed');
    const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    t.attach({ debug: (fields, msg) => lines.push({ fields: fields as Record<string, unknown>, msg }) });
    assert.deepEqual(lines.map((l) => l.msg), ['startup: cli loaded', 'startup: options parsed']);
    now = 100;
    t.mark('ready');
    assert.deepEqual(lines[2]?.fields, { phase: 'ready', ms: 100, stepMs: 75, cpuMs: 7 });
    assert.equal(formatTimeline(t.all()), 'cli loaded 10 → options parsed 25 → ready 100');
  });
});
