// What a reliability test measures about a running daemon from outside: CPU seconds used, resident memory and open
// file descriptors, read from /proc by PID (the daemon runs under `ip netns exec`, which execs, so the PID is its own).
import * as fs from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes the command name (which may contain spaces): utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size in MiB. */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Open file descriptors. */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Lines of a pino JSON log that are error/fatal or carry a stack trace: what an operator should never see for bad input. */
export function stackTraces(log: string): string[] {
  return log.split('\n').filter((l) => /"stack"\s*:|\n\s+at |^\s+at .+\(.+:\d+:\d+\)$/.test(l));
}

/** The parsed JSON records of a daemon log (other lines, such as the testbed's start markers, are skipped). */
export function logRecords(log: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by a SIGKILL
    }
  }
  return out;
}
