// Where one ping's round trip through two userspace VXLAN nodes spends its time, read from a scheduler + syscall
// trace (`PING_TRACE=<prefix> bench/datapath-steps.sh`, then `perf script -F comm,tid,cpu,time,event,trace -i FILE |
// node dist/bench/ping-timeline-main.js`). Each ping is followed through its wake-ups and syscalls: ping → loop A
// (TUN) → loop B (UDP) → loop A (UDP, often still spinning) → ping. The time between them is split into hops that
// are either the kernel's (a syscall and what it runs inline), a wake-up, or a loop's own user time.
import { percentile } from './stats.js';

export interface TraceEvent {
  readonly comm: string;
  readonly tid: number;
  readonly cpu: number;
  /** µs */
  readonly t: number;
  readonly event: string;
  /** Syscall number (raw_syscalls). */
  readonly nr?: number;
  /** Syscall return (sys_exit). */
  readonly ret?: number;
  /** sched_waking: the woken thread and the CPU picked for it. */
  readonly target?: number;
  readonly targetCpu?: number;
  /** sched_switch: the thread switched in. */
  readonly next?: number;
}

export interface PingPath {
  /** µs at the end of each hop, [0] the ping's send. */
  readonly marks: readonly number[];
  /** The loop was woken onto a CPU running the idle task (on a VM: a halted vCPU, a round trip to the host). */
  readonly idleA: boolean;
  readonly idleB: boolean;
}

/** Each hop ends at one traced event; loop A serves the pinging pod, loop B the other. */
export const HOPS: readonly (readonly [string, string])[] = [
  ['ping: sendto → loop A woken', 'kernel: ICMP out of the pod, forwarded into the TUN'],
  ['loop A: woken → on CPU', 'wake-up (IPI, halted vCPU, run-queue wait)'],
  ['loop A: on CPU → TAP write', 'the loop: poll return, TUN read, JS, encap (first hop after idle)'],
  ['loop A: TAP write → loop B woken', 'kernel: forwarding, veth, B\'s UDP receive'],
  ['loop B: woken → on CPU', 'wake-up'],
  ['loop B: on CPU → TUN write', 'the loop: poll return, recvmmsg, JS, decap (first hop after idle)'],
  ['loop B: TUN write → reply ready', 'kernel: TUN write, pod B\'s echo reply inline, back into the TUN'],
  ['loop B: reply → TAP write', 'the loop: TUN read, JS, encap (warm)'],
  ['loop B: TAP write → reply at loop A', 'kernel: forwarding, veth, A\'s receive (A spinning or woken)'],
  ['loop A: reply → TUN write', 'the loop: recvmmsg, JS, decap (warm)'],
  ['loop A: TUN write → ping woken', 'kernel: into pod A'],
  ['ping: woken → has the reply', 'wake-up of ping, its recvmsg'],
];

const SEND = new Set([44, 46]); // sendto, sendmsg
const RECV = new Set([45, 47]); // recvfrom, recvmsg
const WRITE = 1;
const POLL = 7;
/** A ping not back within this is left out (lost, or a path the trace does not show). */
const GIVE_UP_US = 20_000;
const LINE = /^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;

function num(re: RegExp, s: string): number | undefined {
  const m = re.exec(s);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** One line of `perf script -F comm,tid,cpu,time,event,trace`; null for anything else. */
export function parseTraceLine(line: string): TraceEvent | null {
  const m = LINE.exec(line);
  if (!m) return null;
  const [, comm = '', tid = '', cpu = '', time = '', event = '', rest = ''] = m;
  const base = { comm, tid: Number(tid), cpu: Number(cpu), t: Math.round(Number(time) * 1e6), event };
  switch (event) {
    case 'raw_syscalls:sys_enter': return { ...base, nr: num(/NR (\d+)/, rest) ?? -1 };
    case 'raw_syscalls:sys_exit':
      return { ...base, nr: num(/NR (-?\d+)/, rest) ?? -1, ret: num(/= (-?\d+)/, rest) ?? -1 };
    case 'sched:sched_waking':
      return { ...base, target: num(/ pid=(\d+)/, rest) ?? -1, targetCpu: num(/target_cpu=(\d+)/, rest) ?? -1 };
    case 'sched:sched_switch': return { ...base, next: num(/next_pid=(\d+)/, rest) ?? -1 };
    default: return base;
  }
}

const isSend = (e: TraceEvent): boolean => e.comm === 'ping' && e.event === 'raw_syscalls:sys_enter'
  && SEND.has(e.nr ?? -1);
const wakes = (e: TraceEvent, by: number, target: number): boolean =>
  e.event === 'sched:sched_waking' && e.tid === by && e.target === target;
const runs = (e: TraceEvent, tid: number): boolean => e.event === 'sched:sched_switch' && e.next === tid;
const writes = (e: TraceEvent, tid: number): boolean =>
  e.event === 'raw_syscalls:sys_enter' && e.tid === tid && e.nr === WRITE;
const ready = (e: TraceEvent, tid: number): boolean =>
  e.event === 'raw_syscalls:sys_exit' && e.tid === tid && e.nr === POLL && (e.ret ?? 0) > 0;

/** The ping thread that sent the most: the trace is system-wide, and other pings on the host are not ours. */
export function mainPing(events: readonly TraceEvent[]): { tid: number; sent: number } | null {
  const sends = new Map<number, number>();
  for (const e of events) if (isSend(e)) sends.set(e.tid, (sends.get(e.tid) ?? 0) + 1);
  let best: { tid: number; sent: number } | null = null;
  for (const [tid, sent] of sends) if (best === null || sent > best.sent) best = { tid, sent };
  return best;
}

/** Every ping of `ping` whose whole path the trace shows, in order. One at a time: pings are 10 ms apart. */
export function followPings(events: readonly TraceEvent[], ping: number): PingPath[] {
  const onCpu = new Map<number, number>();
  const out: PingPath[] = [];
  let marks: number[] = [];
  let la = -1, lb = -1, idleA = false, idleB = false;
  const steps: readonly ((e: TraceEvent) => boolean)[] = [
    (e) => {
      if (e.event !== 'sched:sched_waking' || e.tid !== ping || e.target === ping) return false;
      la = e.target ?? -1;
      idleA = onCpu.get(e.targetCpu ?? -1) === 0;
      return true;
    },
    (e) => runs(e, la),
    (e) => writes(e, la),
    (e) => {
      if (e.event !== 'sched:sched_waking' || e.tid !== la || e.target === la || e.target === ping) return false;
      lb = e.target ?? -1;
      idleB = onCpu.get(e.targetCpu ?? -1) === 0;
      return true;
    },
    (e) => runs(e, lb),
    (e) => writes(e, lb),
    (e) => ready(e, lb),
    (e) => writes(e, lb),
    (e) => wakes(e, lb, la) || ready(e, la),
    (e) => writes(e, la),
    (e) => wakes(e, la, ping),
    (e) => e.event === 'raw_syscalls:sys_exit' && e.tid === ping && RECV.has(e.nr ?? -1) && (e.ret ?? 0) > 0,
  ];
  for (const e of events) {
    if (e.event === 'sched:sched_switch') onCpu.set(e.cpu, e.next ?? -1);
    if (e.comm === 'ping' && e.tid !== ping) continue;
    if (isSend(e)) { marks = [e.t]; continue; } // a new ping starts over (the last one was lost or not followed)
    if (marks.length === 0) continue;
    if (e.t - (marks[0] ?? 0) > GIVE_UP_US) { marks = []; continue; }
    const step = steps[marks.length - 1];
    if (step !== undefined && step(e)) marks.push(e.t);
    if (marks.length > steps.length) {
      out.push({ marks, idleA, idleB });
      marks = [];
    }
  }
  return out;
}

/** The hops' median and p90 (µs) as a markdown table, with a header line of counts. */
export function hopTable(pings: readonly PingPath[], sent: number): string {
  if (pings.length === 0) return 'no ping path through two loops found in the trace';
  const lines = [
    `${pings.length} of ${sent} pings followed; loop A woken onto an idle CPU in `
      + `${pings.filter((p) => p.idleA).length}, loop B in ${pings.filter((p) => p.idleB).length}`,
    '| hop | median µs | p90 µs | what runs there |', '|---|---|---|---|',
  ];
  const row = (name: string, what: string, d: number[]): string =>
    `| ${name} | ${Math.round(percentile(d, 50))} | ${Math.round(percentile(d, 90))} | ${what} |`;
  const gap = (p: PingPath, from: number, to: number): number => (p.marks[to] ?? 0) - (p.marks[from] ?? 0);
  HOPS.forEach(([name, what], i) => lines.push(row(name, what, pings.map((p) => gap(p, i, i + 1)))));
  lines.push(row('whole round trip (traced)', '', pings.map((p) => gap(p, 0, HOPS.length))));
  return lines.join('\n');
}
