import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileCacheDir } from '../../src/compile-cache.js';
import { compileCacheKey, SETTLED_MS } from '../../src/compile-cache-key.js';

const MODULE_JS = path.resolve(__dirname, '..', '..', 'src', 'compile-cache.js');

/** Loads `target` in a fresh process with the cache in `dir`; returns the cache's stats and the module's answer. */
function loadWithCache(dir: string, target: string): { hits: number; misses: number; written: number; answer: unknown } {
  const script = `const c = require(${JSON.stringify(MODULE_JS)}); c.installCompileCache(${JSON.stringify(dir)});
    const answer = require(${JSON.stringify(target)}).answer();
    c.flushCompileCache().then(() => { const s = c.compileCacheStats();
      process.stdout.write(JSON.stringify({ hits: s.hits, misses: s.misses, written: s.written, answer })); });`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as ReturnType<typeof loadWithCache>;
}

describe('V8 code cache', () => {
  it('goes to systemd\'s CacheDirectory, root\'s /var/cache or the user\'s ~/.cache, and can be turned off', () => {
    assert.equal(compileCacheDir({}), null, 'none without systemd or the variable: nothing left in system directories');
    assert.equal(compileCacheDir({ CACHE_DIRECTORY: '/var/cache/tsflanneld:/x' }), '/var/cache/tsflanneld/v8');
    assert.equal(compileCacheDir({ TSFLANNELD_COMPILE_CACHE: 'off', CACHE_DIRECTORY: '/c' }), null);
    assert.equal(compileCacheDir({ TSFLANNELD_COMPILE_CACHE: '/tmp/x' }), '/tmp/x');
  });

  it('the second start takes the code from the cache; a changed file is compiled again, never served old code', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-cc-'));
    try {
      const dir = path.join(tmp, 'cache');
      const mod = path.join(tmp, 'm.js');
      fs.writeFileSync(mod, '#!/usr/bin/env node\nexports.answer = () => 41 + 1;\n');
      const first = loadWithCache(dir, mod);
      assert.deepEqual([first.hits, first.misses, first.written, first.answer], [0, 1, 1, 42]);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      const second = loadWithCache(dir, mod);
      assert.deepEqual([second.hits, second.misses, second.answer], [1, 0, 42]);
      fs.writeFileSync(mod, '#!/usr/bin/env node\nexports.answer = () => 41 + 2;\n'); // same length, other code
      const changed = loadWithCache(dir, mod);
      assert.deepEqual([changed.hits, changed.misses, changed.answer], [0, 1, 43]);
      assert.equal(fs.readdirSync(dir).length, 1, 'the entry of the old text is removed');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a file left alone for a second is named by its identity: a write, even of the same length, renames it', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-cc-'));
    const settle = (): void => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLED_MS + 100);
    };
    try {
      const dir = path.join(tmp, 'cache');
      const mod = path.join(tmp, 'm.js');
      fs.writeFileSync(mod, 'exports.answer = () => 41 + 1;\n');
      settle();
      const first = loadWithCache(dir, mod);
      assert.deepEqual([first.hits, first.misses, first.answer], [0, 1, 42]);
      const names = fs.readdirSync(dir);
      const identity = fs.statSync(mod, { bigint: true });
      assert.deepEqual(names, [compileCacheKey(mod, 'not its text', identity, Date.now())], 'named without its text');
      const second = loadWithCache(dir, mod);
      assert.deepEqual([second.hits, second.misses, second.answer], [1, 0, 42]);
      fs.writeFileSync(mod, 'exports.answer = () => 41 + 3;\n'); // same length, other code
      settle();
      const changed = loadWithCache(dir, mod);
      assert.deepEqual([changed.hits, changed.misses, changed.answer], [0, 1, 44]);
      assert.notDeepEqual(fs.readdirSync(dir), names, 'the old entry is gone, the new one has another name');
      assert.equal(fs.readdirSync(dir).length, 1);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('leaves modules with import() to Node, whose import() then still works on the next start', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-cc-'));
    try {
      const dir = path.join(tmp, 'cache');
      const mod = path.join(tmp, 'm.js');
      fs.writeFileSync(mod, 'exports.answer = () => 7; exports.later = () => import("node:os");\n');
      const script = `const c = require(${JSON.stringify(MODULE_JS)}); c.installCompileCache(${JSON.stringify(dir)});
        require(${JSON.stringify(mod)}).later().then((os) => c.flushCompileCache().then(() =>
          process.stdout.write(JSON.stringify({ ok: typeof os.cpus, misses: c.compileCacheStats().misses }))));`;
      for (let i = 0; i < 2; i++) {
        const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { ok: string; misses: number };
        assert.deepEqual(r, { ok: 'function', misses: 0 });
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('entries written after a worker thread started (it resets a boot flag) are still taken by the next start', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-cc-'));
    try {
      const mod = path.join(tmp, 'm.js');
      fs.writeFileSync(mod, 'exports.answer = () => 5;\n');
      // As boot.ts: a flag lowered before the cache is installed; a worker's isolate puts it back to V8's minimum.
      const run = (dir: string, restore: boolean): { hits: number; misses: number } => {
        const script = `const v8 = require('node:v8'); const flags = () => v8.setFlagsFromString('--semi-space-growth-factor=1');
          flags(); const c = require(${JSON.stringify(MODULE_JS)}); c.installCompileCache(${JSON.stringify(dir)}${restore ? ', flags' : ''});
          require(${JSON.stringify(mod)}).answer();
          new (require('node:worker_threads').Worker)('0', { eval: true }).on('exit', () => c.flushCompileCache().then(() =>
            process.stdout.write(JSON.stringify({ hits: c.compileCacheStats().hits, misses: c.compileCacheStats().misses }))));`;
        return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { hits: number; misses: number };
      };
      const without = path.join(tmp, 'without');
      run(without, false);
      assert.deepEqual(run(without, false), { hits: 0, misses: 1 }, 'V8 rejects an entry made under other flags');
      const dir = path.join(tmp, 'with');
      assert.deepEqual(run(dir, true), { hits: 0, misses: 1 });
      assert.deepEqual(run(dir, true), { hits: 1, misses: 0 });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('does not use a directory others can write to', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-cc-'));
    try {
      const dir = path.join(tmp, 'open');
      fs.mkdirSync(dir, { mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      const mod = path.join(tmp, 'm.js');
      fs.writeFileSync(mod, 'exports.answer = () => 1;\n');
      const r = loadWithCache(dir, mod);
      assert.deepEqual([r.hits, r.misses, r.written, r.answer], [0, 0, 0, 1]);
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
