// Loads the N-API addon built from native/ by `npm ci` (node-gyp, nodedir=/usr). Each user declares the
// slice of it that it calls (see datapath/ and ops/), so this file stays free of their types.
import { createRequire } from 'node:module';
import path from 'node:path';

const requireFromHere = createRequire(__filename);
// dist/src/native/addon.js → <package root>/build/Release
const binaryPath = path.join(__dirname, '..', '..', '..', 'build', 'Release', 'tsflanneld_native.node');

let cached: unknown;

export function loadAddon(): unknown {
  cached ??= requireFromHere(binaryPath);
  return cached;
}
