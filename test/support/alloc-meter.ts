// Counts what a piece of synchronous code allocates on the JS heap, for the datapath's "nothing allocated per
// packet" rule: the young generation's growth across many runs, with a collection forced first and any collection
// during the runs reported (one would make the growth meaningless). Counts bytes, never time.
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

function youngUsed(): number {
  return v8.getHeapSpaceStatistics().filter((s) => s.space_name === 'new_space')
    .reduce((sum, s) => sum + s.space_used_size, 0);
}

export interface AllocationCount {
  /** Bytes the young generation grew by, per run. */
  readonly bytesPerRun: number;
  /** Collections of any kind that ran during the measured runs (0 for the bytes to mean anything). */
  readonly collections: number;
}

/**
 * Runs `fn` `warmRuns` times in `warmRounds` rounds with pauses between (V8 optimises in the background, as the
 * datapath's warm-up allows for), then `runs` times measured.
 */
export async function allocationPerRun(fn: () => void, runs: number, warmRuns = 3000, warmRounds = 3): Promise<AllocationCount> {
  for (let r = 0; r < warmRounds; r++) {
    for (let i = 0; i < warmRuns; i++) fn();
    await sleep(30);
  }
  const seen: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => { seen.push(...list.getEntries()); });
  obs.observe({ entryTypes: ['gc'] });
  collect();
  await tick();
  await tick();
  seen.length = 0;
  const start = performance.now();
  const before = youngUsed();
  for (let i = 0; i < runs; i++) fn();
  const after = youngUsed();
  const end = performance.now();
  await tick();
  await tick();
  obs.disconnect();
  const collections = seen.filter((e) => e.startTime >= start && e.startTime <= end).length;
  return { bytesPerRun: (after - before) / runs, collections };
}
