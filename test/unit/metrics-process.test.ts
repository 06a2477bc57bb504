// The process metrics (and their event-loop sampler, a timer that would wake an idle daemon every second) start
// at the first scrape, not when the metrics are loaded.
import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { DaemonCounts } from '../../src/ops/counts.js';
import { createMetrics } from '../../src/ops/metrics.js';

it('registers the process metrics only when asked, once', async () => {
  const m = createMetrics(new DaemonCounts());
  assert.doesNotMatch(await m.registry.metrics(), /^process_cpu_seconds_total /m);
  m.startProcessMetrics();
  m.startProcessMetrics(); // a second registration would throw: the metric names are taken
  const text = await m.registry.metrics();
  assert.match(text, /^process_cpu_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  m.registry.clear();
});
