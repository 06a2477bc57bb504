// Finds or builds the real upstream flanneld v0.28.9 for the benchmark: `../shared/upstream/build.sh` (relative to
// the repository) builds it into TSF_UPSTREAM_DIR or ~/.cache/tsflanneld-upstream, and is idempotent, so a built
// binary costs only a checksum. Without the script or Go, an already built binary is still used; without either,
// the caller gets one line saying why and goes on without the upstream rows.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const UPSTREAM_VERSION = 'v0.28.9';

export type UpstreamBinary = { readonly bin: string } | { readonly unavailable: string };

/** Where the binaries go: TSF_UPSTREAM_DIR, else XDG_CACHE_HOME or ~/.cache, as build.sh defaults. Pure. */
export function upstreamDir(env: NodeJS.ProcessEnv, home: string): string {
  if (env.TSF_UPSTREAM_DIR !== undefined && env.TSF_UPSTREAM_DIR !== '') return env.TSF_UPSTREAM_DIR;
  return path.join(env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME
    : path.join(home, '.cache'), 'tsflanneld-upstream');
}

/** The last non-empty line of a failed build's output, for the one-line reason. Pure. */
export function buildFailureLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines[lines.length - 1] ?? 'no output';
}

function runBuild(script: string, dir: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => { output = (output + d.toString('utf8')).slice(-4000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => { if (child.pid !== undefined) child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: null, output: e.message }); });
  });
}

/** Builds (or verifies) upstream flanneld and returns its path, or why it is not available. */
export async function ensureUpstream(repoRoot: string, report: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env): Promise<UpstreamBinary> {
  const dir = upstreamDir(env, os.homedir());
  const bin = path.join(dir, `flanneld-${UPSTREAM_VERSION}`);
  const script = path.resolve(repoRoot, '..', 'shared', 'upstream', 'build.sh');
  if (fs.existsSync(script)) {
    report(`upstream: building flanneld ${UPSTREAM_VERSION} with ${script} into ${dir} (kept when already built)`);
    const r = await runBuild(script, dir, 20 * 60_000);
    if (r.code === 0 && fs.existsSync(bin)) return { bin };
    const why = `build.sh exited ${r.code ?? 'on a signal'}: ${buildFailureLine(r.output)}`;
    if (fs.existsSync(bin)) {
      report(`upstream: ${why}; using the binary built before`);
      return { bin };
    }
    return { unavailable: `upstream flanneld ${UPSTREAM_VERSION} not available (${why}); no upstream rows` };
  }
  if (fs.existsSync(bin)) return { bin };
  return { unavailable: `upstream flanneld ${UPSTREAM_VERSION} not available (no ${script} and no ${bin}); `
    + 'no upstream rows' };
}
