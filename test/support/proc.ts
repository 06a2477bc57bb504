// Small process helpers for tests: run a command, spawn a child that is killed (by PID) when the test process
// exits however it exits, and poll until a condition holds.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface RunOptions {
  /** Resolve with the exit code instead of throwing when it is not 0. */
  readonly allowFail?: boolean;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

export function run(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Without input the child gets no stdin pipe: one that exits before reading would make our write fail with
    // EPIPE after the test has moved on.
    const child = spawn(cmd, args, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: o.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : null;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = { stdout, stderr, code: code ?? (signal ? 128 : 1) };
      if (result.code !== 0 && !o.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || stdout.trim()}`));
      } else {
        resolve(result);
      }
    });
    if (o.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // a child that exits without reading its input is not our failure
      child.stdin.end(o.input);
    }
  });
}

const tracked = new Set<number>();
let exitHookInstalled = false;

function killTrackedSync(): void {
  for (const pid of tracked) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  tracked.clear();
}

/** Runs `fn` when the process exits (normally, by an uncaught error, or by SIGINT/SIGTERM). Synchronous work only. */
export function onProcessExit(fn: () => void): void {
  exitHooks.push(fn);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const runAll = (): void => {
    for (const hook of exitHooks.splice(0)) {
      try {
        hook();
      } catch {
        // best effort at exit
      }
    }
  };
  process.on('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      runAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}
const exitHooks: Array<() => void> = [killTrackedSync];

/** spawn() whose child is SIGKILLed by PID if this process exits first. Call untrack(pid) once it is reaped. */
export function spawnTracked(cmd: string, args: readonly string[], o: SpawnOptions = {}): ChildProcess {
  onProcessExit(() => undefined);
  const child = spawn(cmd, args, o);
  const pid = child.pid;
  if (pid !== undefined) {
    tracked.add(pid);
    child.once('exit', () => tracked.delete(pid));
  }
  return child;
}

export function untrack(pid: number): void {
  tracked.delete(pid);
}

/**
 * SIGTERM to a tracked child, then its exit status (`exited` resolves with it); SIGKILL after `graceMs`, so a child
 * that ignores SIGTERM fails the test instead of hanging it.
 */
export async function terminateTracked(child: ChildProcess, exited: Promise<number | null>,
  graceMs = 15_000): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const guard = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(guard);
  if (child.pid !== undefined) untrack(child.pid);
  return code;
}

/** True while the process exists and is not a zombie (a killed child waiting to be reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface WaitForOptions {
  readonly timeoutMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what: string;
  readonly intervalMs?: number;
}

export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/** Polls `pred` until it returns a truthy value (which is returned); throws naming `what` on timeout. */
export function waitFor<T>(pred: () => T | Promise<T>, o: WaitForOptions): Promise<Truthy<T>> {
  return pollLoop(pred, (v): v is Truthy<T> => Boolean(v), o.what, o.timeoutMs ?? 10_000, o.intervalMs ?? 50, true);
}

/**
 * Polls `probe` until it returns a value other than null/undefined/false (0 and '' count as values); throws naming
 * `what` after timeoutMs. Unlike waitFor, an error thrown by the probe ends the wait at once.
 */
export function poll<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  return pollLoop(probe, (v): v is T => v !== null && v !== undefined && v !== false, what, timeoutMs, intervalMs, false);
}

/** The one polling loop behind waitFor and poll. */
async function pollLoop<V, R extends V>(probe: () => V | Promise<V>, accept: (v: V) => v is R, what: string,
  timeoutMs: number, intervalMs: number, retryErrors: boolean): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (accept(v)) return v;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(intervalMs);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
