// A V8 code cache for every CommonJS module the daemon loads (its own and its dependencies'). Node 20 has no
// module.enableCompileCache (Node 22 has), and compiling ~370 modules is a good part of the time before the daemon
// can talk to etcd. The first start writes the cache after it is up; later starts skip most of the compiling.
//
// The cache is code the process will run, so it lives only in a directory this user owns and nobody else can write:
// $CACHE_DIRECTORY/v8 under systemd's CacheDirectory= (both units set it), or $TSFLANNELD_COMPILE_CACHE ("off"
// turns it off). Without either there is none: a daemon started by hand (or by a test) leaves nothing behind in
// system directories. An entry is named by the module's path and the identity of its file (./compile-cache-key.ts),
// so a changed file never meets old code.
// Anything unexpected (a bad entry, an unwritable directory) falls back to Node's own compiling, silently.
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { compileCacheKey } from './compile-cache-key.js';

export interface CompileCacheStats {
  dir: string | null;
  hits: number;
  misses: number;
  written: number;
}

/** Pure: where the cache goes, or null when it is turned off. */
export function compileCacheDir(env: NodeJS.ProcessEnv): string | null {
  const given = env.TSFLANNELD_COMPILE_CACHE;
  if (given !== undefined) return given === '' || given === 'off' || given === '0' ? null : path.resolve(given);
  // systemd's CacheDirectory= (the units set it): the one place a sandboxed service may write a cache.
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  return systemd ? path.join(systemd, 'v8') : null;
}

/** Creates the directory (0700) and says whether only this user can write to it. */
function privateDir(dir: string, uid: number): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.statSync(dir);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

interface InternalModule {
  _compile(content: string, filename: string): unknown;
}
interface ModuleStatics {
  wrap(script: string): string;
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _extensions: unknown;
  _cache: unknown;
}

function statOf(filename: string): fs.BigIntStats | null {
  try {
    return fs.statSync(filename, { bigint: true });
  } catch {
    return null;
  }
}

const DYNAMIC_IMPORT = /\bimport\s*\(/;

/** Cache entries written per turn of the event loop. */
const FLUSH_CHUNK = 16;

const stats: CompileCacheStats = { dir: null, hits: 0, misses: 0, written: 0 };
/**
 * V8 accepts a cache entry only when it was made under the flags it is read under (the flags are part of
 * cachedDataVersionTag). The tag when the modules were compiled, and what sets those flags again when something
 * changed them since (a worker isolate's start puts a process-wide flag boot.ts lowered back to V8's minimum).
 */
let compileTag = 0;
let restoreFlags: () => void = () => undefined;
const pending = new Map<string, vm.Script>();
const used = new Set<string>();

export function compileCacheStats(): Readonly<CompileCacheStats> {
  return stats;
}

/** Hooks CommonJS compiling to read and (at flush) write the cache. Returns false when there is no usable dir. */
export function installCompileCache(dir: string | null = compileCacheDir(process.env), flags: () => void = () => undefined): boolean {
  const uid = process.getuid?.() ?? -1;
  if (dir === null || stats.dir !== null || !privateDir(dir, uid)) return false;
  stats.dir = dir;
  compileTag = v8.cachedDataVersionTag();
  restoreFlags = flags;
  const statics = Module as unknown as ModuleStatics;
  const proto = Module.prototype as unknown as InternalModule;
  const original = proto._compile;
  proto._compile = function compileWithCache(this: Module, content: string, filename: string): unknown {
    // import() in a script compiled from a cache entry finds no loader on Node 20 (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING):
    // such modules (a few of ours that load parts on demand) are compiled by Node as usual.
    // An entry is only ever written for such a text, and its name stands for the text: with an entry there, the scan
    // (~1 ms over the 1.8 MiB bundle) is skipped.
    const key = compileCacheKey(filename, content, statOf(filename), Date.now());
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(path.join(dir, key));
    } catch {
      cachedData = undefined;
    }
    if (cachedData === undefined && DYNAMIC_IMPORT.test(content)) return original.call(this, content, filename);
    let script: vm.Script;
    try {
      // A hashbang is legal only at the very start of a script; inside the wrapper it must become a comment.
      const source = content.startsWith('#!') ? `//${content}` : content;
      script = new vm.Script(statics.wrap(source), { filename, ...(cachedData ? { cachedData } : {}) });
      if (cachedData && !script.cachedDataRejected) stats.hits++;
      else {
        stats.misses++;
        pending.set(key, script);
      }
      used.add(key);
    } catch {
      // Syntax Node handles itself (ESM detection, its own error text): leave it to Node.
      return original.call(this, content, filename);
    }
    const mod = this;
    const req = ((id: string) => mod.require(id)) as NodeJS.Require;
    req.resolve = ((request: string, options?: unknown) => statics._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
    Object.assign(req, { main: require.main, extensions: statics._extensions, cache: statics._cache });
    const fn = script.runInThisContext({ displayErrors: true }) as (...a: unknown[]) => unknown;
    return fn.call(mod.exports, mod.exports, req, mod, filename, path.dirname(filename));
  };
  return true;
}

/**
 * Writes the entries this start compiled (with the functions that ran by now, so the next start gets those too) and
 * removes the entries it did not use. Call once the daemon is up: it is off the path to subnet.env. Does nothing when
 * every module came from the cache.
 */
export async function flushCompileCache(): Promise<void> {
  const dir = stats.dir;
  if (dir === null || pending.size === 0) return;
  const entries = [...pending];
  pending.clear();
  for (let i = 0; i < entries.length; i++) {
    // A few entries per turn of the event loop: writing them all at once would hold the daemon for ~100 ms.
    if (i > 0 && i % FLUSH_CHUNK === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    // Made under other flags than the next start compiles under, an entry would be rejected at every start (the
    // userspace datapath's loops start before this flush): the flags go back to what the modules were compiled under.
    if (v8.cachedDataVersionTag() !== compileTag) restoreFlags();
    if (v8.cachedDataVersionTag() !== compileTag) return;
    const [key, script] = entries[i]!;
    const file = path.join(dir, key);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, file);
      stats.written++;
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }
  // New code came (an upgrade): what this start did not use is an older version's, or a few modules of another
  // datapath (compiled again when next needed).
  try {
    for (const name of fs.readdirSync(dir)) if (!used.has(name)) fs.rmSync(path.join(dir, name), { force: true });
  } catch {
    // a cache that cannot be tidied still works
  }
}
