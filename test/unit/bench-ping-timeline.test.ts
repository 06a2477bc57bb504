// The ping timeline's reading of a perf trace (bench/ping-timeline.ts): lines in perf script's format, one ping
// followed through its twelve hops, other pings on the host and pings whose path the trace lacks left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOPS, followPings, hopTable, mainPing, parseTraceLine, type TraceEvent } from '../../bench/ping-timeline.js';

const PING = 900, LA = 501, LB = 602, OTHER_PING = 950;

function at(us: number): string { return (1000 + us / 1e6).toFixed(6); }
const enter = (comm: string, tid: number, us: number, nr: number): string =>
  `${comm.padStart(16)} ${tid} [001] ${at(us)}: raw_syscalls:sys_enter: NR ${nr} (3, 5591a608eb80, 40, 0, 0, 10)`;
const exit = (comm: string, tid: number, us: number, nr: number, ret: number): string =>
  `${comm.padStart(16)} ${tid} [001] ${at(us)}: raw_syscalls:sys_exit: NR ${nr} = ${ret}`;
const waking = (comm: string, tid: number, us: number, target: number, cpu = 1): string =>
  `${comm.padStart(16)} ${tid} [001] ${at(us)}:     sched:sched_waking: comm=node pid=${target} prio=120 `
  + `target_cpu=00${cpu}`;
const sw = (cpu: number, us: number, prev: number, next: number): string =>
  `${'node'.padStart(16)} ${prev} [00${cpu}] ${at(us)}:     sched:sched_switch: prev_comm=node prev_pid=${prev} `
  + `prev_prio=120 prev_state=R ==> next_comm=node next_pid=${next} next_prio=120`;

/** One round trip starting at t, each hop ending 10·(i+1) µs after the last; loop A woken onto an idle CPU 0. */
function roundTrip(t: number): string[] {
  let u = t;
  const n = (): number => (u += 10);
  return [
    enter('ping', PING, u, 44),
    sw(0, u + 1, 77, 0), // CPU 0 goes idle
    waking('ping', PING, n(), LA, 0),
    sw(0, n(), 0, LA),
    enter('node', LA, n(), 1),
    waking('node', LA, n(), LB),
    sw(1, n(), LA, LB),
    enter('node', LB, n(), 1),
    exit('node', LB, n(), 7, 1),
    enter('node', LB, n(), 1),
    exit('node', LA, n(), 7, 1),
    enter('node', LA, n(), 1),
    waking('node', LA, n(), PING),
    exit('ping', PING, n(), 47, 84),
  ];
}

function events(lines: readonly string[]): TraceEvent[] {
  return lines.map(parseTraceLine).filter((e): e is TraceEvent => e !== null);
}

test('parseTraceLine reads syscalls, wake-ups and switches in perf script format', () => {
  assert.deepEqual(parseTraceLine(enter('ping', PING, 5, 44)),
    { comm: 'ping', tid: PING, cpu: 1, t: 1_000_000_005, event: 'raw_syscalls:sys_enter', nr: 44 });
  assert.equal(parseTraceLine(exit('node', LA, 0, 0, -11))?.ret, -11);
  assert.deepEqual([parseTraceLine(waking('node', LA, 0, LB, 0))?.target, parseTraceLine(waking('x', 1, 0, 2, 0))
    ?.targetCpu], [LB, 0]);
  assert.equal(parseTraceLine(sw(1, 0, LA, LB))?.next, LB);
  assert.equal(parseTraceLine('# perf script header'), null);
  const other = parseTraceLine(`  ip-netns 12 [000] ${at(0)}: power:cpu_idle: state=1 cpu_id=0`);
  assert.equal(other?.event, 'power:cpu_idle');
});

test('a round trip is split into its twelve hops, the idle wake-up counted', () => {
  const ev = events(roundTrip(0));
  const pings = followPings(ev, PING);
  assert.equal(pings.length, 1);
  const marks = pings[0]?.marks ?? [];
  assert.equal(marks.length, HOPS.length + 1);
  assert.deepEqual(marks.slice(1).map((m, i) => m - (marks[i] ?? 0)), HOPS.map(() => 10));
  assert.deepEqual([pings[0]?.idleA, pings[0]?.idleB], [true, false]);
  const table = hopTable(pings, 1);
  assert.match(table, /^1 of 1 pings followed; loop A woken onto an idle CPU in 1, loop B in 0/);
  assert.match(table, /\| whole round trip \(traced\) \| 120 \| 120 \|/);
});

test('the busiest ping thread is ours; another ping and a ping the trace loses are left out', () => {
  // Another ping on the host sends in the middle of one of ours (after our loop A's TAP write).
  const other = [enter('ping', OTHER_PING, 10_035, 44), waking('ping', OTHER_PING, 10_036, LA, 0)];
  const second = roundTrip(10_000);
  second.splice(5, 0, ...other);
  // The first ping never comes back (its loop B is never woken); the next one, 10 ms later, does.
  const lost = roundTrip(0).slice(0, 5);
  const lines = [...lost, ...second, ...roundTrip(30_000)];
  const ev = events(lines);
  assert.deepEqual(mainPing(ev), { tid: PING, sent: 3 });
  const pings = followPings(ev, PING);
  assert.deepEqual(pings.map((p) => p.marks[0]), [1_000_010_000, 1_000_030_000]);
  assert.equal(hopTable([], 0), 'no ping path through two loops found in the trace');
});
