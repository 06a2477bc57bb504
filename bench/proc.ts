// Reads procfs for the CPU accounting in cpu.ts (snapshots of process trees, of the whole machine) and for the
// memory split of memory.ts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import {
  parseProcPidStat, parseProcStat, parseSchedstatNs, parseThreads, processTree, type MachineCpu, type ProcessCpu,
} from './cpu.js';
import { parseProcMemory, type ProcMemory } from './memory.js';

let clkTckCache: number | null = null;

/** Clock ticks per second (USER_HZ) as getconf reports it; 100 on every Linux this runs on, if getconf fails. */
export function clockTicksPerSecond(): number {
  if (clkTckCache === null) {
    try {
      const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clkTckCache = v > 0 ? v : 100;
    } catch {
      clkTckCache = 100;
    }
  }
  return clkTckCache;
}

function readAllProcesses(): ProcessCpu[] {
  const out: ProcessCpu[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseProcPidStat(fs.readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch { /* exited while we listed */ }
  }
  return out;
}

/** CPU of the given processes and everything they spawned, as of now. */
export function snapshotTree(roots: readonly number[]): ProcessCpu[] {
  const all = readAllProcesses();
  const wanted = new Set(processTree(roots, all));
  return all.filter((p) => wanted.has(p.pid));
}

export function snapshotMachine(): MachineCpu {
  return parseProcStat(fs.readFileSync('/proc/stat', 'utf8'));
}

/** Resident set of one process (in all, private, file-backed), or null if it is gone. */
export function memoryOf(pid: number): ProcMemory | null {
  try {
    return parseProcMemory(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/** Threads of one process, or null if it is gone. */
export function threadCount(pid: number): number | null {
  try {
    return parseThreads(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Nanoseconds on CPU of the given processes and their descendants, summed over every thread's schedstat: exact where
 * utime/stime count 10 ms ticks, which an idle daemon does not fill in a short window. Threads gone are not counted.
 */
export function cpuNsOfTree(roots: readonly number[]): number {
  let sum = 0;
  for (const p of snapshotTree(roots)) {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${p.pid}/task`);
    } catch { continue; }
    for (const tid of tids) {
      try {
        sum += parseSchedstatNs(fs.readFileSync(`/proc/${p.pid}/task/${tid}/schedstat`, 'utf8')) ?? 0;
      } catch { /* exited while we listed */ }
    }
  }
  return sum;
}
