// Counts what a piece of synchronous code allocates on the JS heap, for the datapath's "nothing allocated per
// packet" rule: the young generation's growth across many runs, with a collection forced first and any collection
// during the runs reported (one would make the growth meaningless). Counts bytes, never time.
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Session } from 'node:inspector';
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
 * datapath's warm-up allows for), then `runs` times measured. On a busy machine a background compile can land after
 * the warm-up, and the runs before it allocate as unoptimised code does: up to `windows` measured windows are taken,
 * each after one more warm round, and the first clean one (or else the least) is returned. Code that allocates in
 * its optimised form allocates in every window.
 */
export async function allocationPerRun(fn: () => void, runs: number, warmRuns = 3000, warmRounds = 3,
  windows = 4): Promise<AllocationCount> {
  for (let r = 0; r < warmRounds; r++) {
    for (let i = 0; i < warmRuns; i++) fn();
    await sleep(30);
  }
  let least: AllocationCount | null = null;
  for (let w = 0; w < windows; w++) {
    if (w > 0) {
      for (let i = 0; i < warmRuns; i++) fn();
      await sleep(30);
    }
    const count = await measuredWindow(fn, runs);
    if (least === null || count.collections < least.collections
      || (count.collections === least.collections && count.bytesPerRun < least.bytesPerRun)) least = count;
    if (count.collections === 0 && count.bytesPerRun < 1) break;
  }
  if (process.env['ALLOC_PROFILE'] === '1') profile(fn, runs);
  return least!;
}

async function measuredWindow(fn: () => void, runs: number): Promise<AllocationCount> {
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

/** ALLOC_PROFILE=1: where the bytes went (V8's sampling heap profiler), on stderr, for finding a test's failure. */
function profile(fn: () => void, runs: number): void {
  const session = new Session();
  session.connect();
  let result: unknown;
  const post = (method: string, params: object = {}): void => {
    session.post(method, params, (err, r) => { if (err) throw err; result = r; });
  };
  post('HeapProfiler.enable');
  post('HeapProfiler.startSampling', { samplingInterval: 32, includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true });
  for (let i = 0; i < runs; i++) fn();
  post('HeapProfiler.stopSampling');
  type Node = { callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    selfSize: number; children: Node[] };
  const rows: [number, string][] = [];
  const walk = (n: Node, stack: string[]): void => {
    const f = n.callFrame;
    const where = `${f.url.split('/').pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    const here = [...stack, `${f.functionName || '(anon)'}@${where}`];
    if (n.selfSize > 0) rows.push([n.selfSize, here.slice(-3).join(' < ')]);
    n.children.forEach((c) => walk(c, here));
  };
  walk((result as { profile: { head: Node } }).profile.head, []);
  rows.sort((a, b) => b[0] - a[0]);
  for (const [bytes, where] of rows.slice(0, 8)) process.stderr.write(`  ${bytes} ${where}\n`);
  session.disconnect();
}
