// Imported first by the CLI, before any other module is loaded: the process settings a small daemon wants, then the
// code cache (./compile-cache.ts), so everything loaded after this is compiled through it.
import * as v8 from 'node:v8';
import { installCompileCache } from './compile-cache.js';
import { applyFootprintFlags } from './footprint.js';

/** The V8 flags of a small daemon; set again by the code cache before it writes (see installCompileCache). */
function applyV8Flags(): void {
  // V8 lets the young generation grow to 16 MiB per semi-space while the modules load, and keeps it: ~13 MiB of RSS
  // an idle daemon never uses again. Kept at its first size, a scavenge is only more frequent, and as short. (Each
  // new isolate, a datapath loop's worker, puts it back to 2, V8's minimum for a new heap.)
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  applyFootprintFlags();
}
applyV8Flags();
// libuv starts 4 threads at the first file or DNS job; the daemon has at most two such jobs at once. An operator's
// own setting wins.
process.env.UV_THREADPOOL_SIZE ??= '2';

installCompileCache(undefined, applyV8Flags);
