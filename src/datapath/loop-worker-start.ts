// How a datapath loop's worker thread is created, the same for both address families. Each worker is a V8 isolate
// and a Node environment of its own: ~8 MiB of private memory before the loop allocates anything (measured on
// Node 20: a worker that loads nothing costs 7.7 MiB of RssAnon, its heap ~5.5 MiB of it: Node's bootstrap).
import { Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';

/**
 * V8 gives a worker's young generation room to grow to two 2 MiB semi-spaces, and the loop's warm-up (thousands of
 * packets through the real code, warm-up.ts) grows it there; afterwards nothing on the datapath allocates, so those
 * pages hold only warm-up's garbage, resident for the life of the loop: an idle loop never collects. Held at V8's
 * smallest (two 1 MiB semi-spaces; any limit under 3 MiB gives that), the warm-up only scavenges more often.
 * Measured on the userspace daemon, 45 s idle: −3.6 MiB RssAnon for its two loops. Old space and the stack keep
 * V8's defaults, so no limit can end a loop with ERR_WORKER_OUT_OF_MEMORY that did not before.
 */
export const LOOP_WORKER_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 1 };

/** Starts `file` (a loop worker module) with its data and the port of its peer-update channel. */
export function startLoopWorker(file: string, workerData: unknown, updates: MessagePort): Worker {
  return new Worker(file, { workerData, transferList: [updates], resourceLimits: LOOP_WORKER_LIMITS });
}
