// What keeps an idle daemon small, beside the settings boot.ts applies before anything loads: V8 drops the bytecode
// of functions not run since the last full GC (most of the start-up code: flags, config, set-up), and glibc hands the
// heap memory freed by start-up back to the kernel once it has settled. Measured on the kernel datapath: the
// bytecode about 3.5 MiB, the trim 2 to 4 MiB of RSS (notes/w-idle.md).
import * as v8 from 'node:v8';
import { loadAddon } from './native/addon.js';

/**
 * After READY: once the start-up burst (the first peers) is over, and again after V8's memory
 * reducer has done its full GCs (some seconds after the last allocation burst), which free more.
 */
const TRIMS_AFTER_READY_MS = [5000, 30_000] as const;

interface TrimAddon {
  mallocTrim(): boolean;
}

/**
 * V8's default flushes bytecode unused for 5 full GCs; an idle daemon has about three (the memory reducer's) and so
 * kept all of start-up's. A function needed again is compiled again, lazily, as on first use. The datapath loops are
 * unaffected: their functions run between any two GCs of their thread, and an idle loop's thread allocates nothing.
 */
export function applyFootprintFlags(): void {
  v8.setFlagsFromString('--bytecode-old-age=1');
}

/** Twice after READY: returns start-up's freed malloc memory to the kernel. Never throws. */
export function trimAfterStartUp(): void {
  for (const ms of TRIMS_AFTER_READY_MS) {
    const t = setTimeout(() => {
      try {
        (loadAddon() as TrimAddon).mallocTrim();
      } catch {
        // No addon (a build without native/): nothing to trim with, nothing lost.
      }
    }, ms);
    t.unref();
  }
}
