// Network namespaces for the e2e testbeds: create, run commands inside, and remove them together with every
// process living in them. Nothing here ever touches the root namespace's addresses, routes or devices.
import { execFile, spawnSync } from 'node:child_process';
import { delay, isAlive } from './proc.js';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  readonly input?: string | Buffer;
  /** Kill the command (SIGKILL) after this many milliseconds; default 30 s. */
  readonly timeoutMs?: number;
}

/** Runs a command to completion and returns its status and output; never throws for a non-zero status. */
export function execCommand(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('execCommand: empty argv');
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 30_000, killSignal: 'SIGKILL',
      maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr: stderr + (err !== null && typeof err.code !== 'number' ? String(err.message) : '') });
    });
    // A child that exits without reading its input makes the write fail with EPIPE: not the caller's failure.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like execCommand, but a non-zero status is an error carrying the command and its stderr. */
export async function mustExec(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await execCommand(argv, opts);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** argv prefix that runs a command inside a namespace. */
export function inNetns(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

export async function netnsExists(ns: string): Promise<boolean> {
  const out = await mustExec(['ip', 'netns', 'list']);
  return out.split('\n').some((line) => line.split(' ')[0] === ns);
}

/** Names of all namespaces that `ip netns` knows. */
export async function listNetns(): Promise<string[]> {
  const out = await mustExec(['ip', 'netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** Creates a namespace with loopback up. */
export async function createNetns(ns: string): Promise<void> {
  await mustExec(['ip', 'netns', 'add', ns]);
  await mustExec(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

export async function pidsInNetns(ns: string): Promise<number[]> {
  const r = await execCommand(['ip', 'netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

// isAlive lives in proc.ts; re-exported so imports written against the old harness/netns keep resolving.
export { isAlive };

/** SIGKILLs the given processes and waits (bounded) until they are gone. */
export async function killPids(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (let i = 0; i < 50 && pids.some(isAlive); i++) await delay(20);
}

/**
 * Kills every process inside the namespace, then deletes it. Its devices go with it: a veth whose peer sits in
 * another namespace is destroyed as a pair.
 */
export async function removeNetns(ns: string): Promise<void> {
  await killPids(await pidsInNetns(ns));
  const r = await execCommand(['ip', 'netns', 'del', ns]);
  if (r.code !== 0 && await netnsExists(ns)) throw new Error(`cannot delete namespace ${ns}: ${r.stderr.trim()}`);
}

/** The same as removeNetns but synchronous, for process 'exit' handlers where nothing async runs any more. */
export function removeNetnsSync(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const s of pids.split('\n')) {
    const pid = Number(s.trim());
    if (Number.isInteger(pid) && pid > 0) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}
