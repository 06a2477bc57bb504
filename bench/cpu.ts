// CPU accounting from procfs text: a process's utime+stime (all its threads), the machine's busy time, and the
// "CPU seconds per gigabit" figure that compares datapaths regardless of their absolute speed. Pure: the caller
// reads the files (see proc.ts) and passes their text in.

export interface ProcessCpu {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime in clock ticks: every thread of the process, not its waited-for children. */
  readonly ticks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces or parentheses, so
 * fields are counted from the last ')'.
 */
export function parseProcPidStat(text: string): ProcessCpu {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, open).trim());
  // After ')' come field 3 (state) onwards; ppid is field 4, utime 14, stime 15.
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${n} is not a number`);
    return v;
  };
  return { pid, ppid: field(4), ticks: field(14) + field(15) };
}

/** Busy and total jiffies of the whole machine, from the first ("cpu ") line of /proc/stat. */
export interface MachineCpu {
  readonly busyTicks: number;
  readonly totalTicks: number;
  readonly softirqTicks: number;
}

export function parseProcStat(text: string): MachineCpu {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no aggregate "cpu" line');
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already inside user and nice).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busyTicks: total - idle - iowait, totalTicks: total, softirqTicks: softirq };
}

/** The PIDs of `roots` and of all their descendants, given every process's ppid. */
export function processTree(roots: readonly number[], all: readonly Pick<ProcessCpu, 'pid' | 'ppid'>[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of all) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const seen = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/**
 * Ticks spent between two snapshots by the processes in `after`. A process that started in between counts from
 * zero; one that ended in between is lost (its time went to a parent's cutime), which the harness avoids by
 * sampling long-lived daemons only.
 */
export function tickDelta(before: readonly ProcessCpu[], after: readonly ProcessCpu[]): number {
  const was = new Map(before.map((p) => [p.pid, p.ticks]));
  let sum = 0;
  for (const p of after) sum += Math.max(0, p.ticks - (was.get(p.pid) ?? 0));
  return sum;
}

/**
 * CPU seconds per gigabit moved: `ticks / clkTck` seconds of CPU over `gbps × seconds` gigabits. Null when nothing
 * moved (a dead path), so a failure never reads as "free".
 */
export function cpuSecondsPerGbit(ticks: number, clkTck: number, gbps: number, seconds: number): number | null {
  if (!(clkTck > 0)) throw new RangeError(`clock ticks per second must be positive, got ${clkTck}`);
  const gigabits = gbps * seconds;
  if (!(gigabits > 0)) return null;
  return ticks / clkTck / gigabits;
}

/** The Threads: count from /proc/<pid>/status; null if the line is absent. */
export function parseThreads(statusText: string): number | null {
  const m = /^Threads:\s+(\d+)/m.exec(statusText);
  return m === null ? null : Number(m[1]);
}

/** Nanoseconds on CPU from /proc/<pid>/task/<tid>/schedstat (its first field); null if it is not that format. */
export function parseSchedstatNs(text: string): number | null {
  const first = text.trim().split(/\s+/)[0] ?? '';
  return /^\d+$/.test(first) ? Number(first) : null;
}
