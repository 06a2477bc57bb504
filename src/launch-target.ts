// Which program the installed command (./tsflanneld.ts) runs: the bundle (scripts/bundle.js) when it is current,
// else the compiled modules. A bundle made before the last compile (`tsc` run without `npm run build`) holds old
// code; running it would test or ship something other than the source.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Pure: the bundle runs when it exists and is no older than the last compile (none known: a package). */
export function bundleIsCurrent(bundleMtimeMs: number | null, compiledMtimeMs: number | null): boolean {
  return bundleMtimeMs !== null && (compiledMtimeMs === null || bundleMtimeMs >= compiledMtimeMs);
}

function mtimeMs(file: string): number | null {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** `srcDir` is dist/src: the bundle sits in dist/, as does tsc's build info (every emitting run rewrites it). */
export function launchTarget(srcDir: string): string {
  const dist = path.dirname(srcDir);
  const bundle = path.join(dist, 'tsflanneld.bundle.js');
  return bundleIsCurrent(mtimeMs(bundle), mtimeMs(path.join(dist, '.tsbuildinfo'))) ? bundle : path.join(srcDir, 'cli.js');
}
