#!/usr/bin/env node
// Where one ping's round trip through two userspace VXLAN nodes spends its time, from a scheduler + syscall trace
// (`PING_TRACE=/tmp/t bench/datapath-steps.sh` records one per mode; `perf script -F comm,tid,cpu,time,event,trace
// -i FILE | node bench/ping-timeline.js`). Each ping is followed through its wake-ups and syscalls: ping → loop A (TUN)
// → loop B (UDP) → loop A (UDP, often still spinning) → ping, and the time between them is split into segments
// that are either the kernel's (a syscall and what it runs inline) or the loop's own user time. Prints the
// median and p90 of each segment in µs, and how often a loop was woken onto an idle CPU (on this VM a halted vCPU: a round trip
// to the host).
'use strict';
const readline = require('node:readline');

const LINE = /^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
const SEND = new Set([44, 46]); // sendto, sendmsg
const RECV = new Set([45, 47]); // recvfrom, recvmsg

// Each mark ends one segment; the syscall traced is named. Loop A is the node of the pinging pod, loop B the other.
const SEGMENTS = [
  ['ping: sendto → loop A woken', 'kernel: ICMP out of the pod, forwarded into the TUN, wake-up call'],
  ['loop A: woken → on CPU', 'wake-up latency (IPI, halted vCPU, run-queue wait)'],
  ['loop A: on CPU → TAP write', 'poll return, TUN read, back to JS, encap (user time, cold after idle)'],
  ['loop A: TAP write → loop B woken', 'kernel: forwarding, veth, B\'s UDP receive, wake-up call'],
  ['loop B: woken → on CPU', 'wake-up latency'],
  ['loop B: on CPU → TUN write', 'poll return, recvmmsg, back to JS, decap (user time, cold after idle)'],
  ['loop B: TUN write → reply ready', 'kernel: TUN write, pod B\'s echo reply inline, back into the TUN; poll'],
  ['loop B: reply ready → TAP write', 'TUN read, JS, encap (warm)'],
  ['loop B: TAP write → reply at loop A', 'kernel: forwarding, veth, A\'s UDP receive (A spinning or woken)'],
  ['loop A: reply → TUN write', 'poll return, recvmmsg, JS, decap (warm)'],
  ['loop A: TUN write → ping woken', 'kernel: TUN write, into pod A, wake-up call'],
  ['ping: woken → has the reply', 'ping on a CPU, its recvmsg'],
];

function parse(line) {
  const m = LINE.exec(line);
  if (!m) return null;
  const [, comm, tid, cpu, time, event, rest] = m;
  const e = { comm, tid: +tid, cpu: +cpu, t: Math.round(parseFloat(time) * 1e6), event };
  if (event === 'raw_syscalls:sys_enter') e.nr = +/NR (\d+)/.exec(rest)[1];
  else if (event === 'raw_syscalls:sys_exit') {
    const x = /NR (-?\d+) = (-?\d+)/.exec(rest);
    e.nr = +x[1];
    e.ret = +x[2];
  } else if (event === 'sched:sched_waking') {
    e.target = +/ pid=(\d+)/.exec(rest)[1];
    e.targetComm = /comm=(\S+)/.exec(rest)[1];
    e.targetCpu = +/target_cpu=(\d+)/.exec(rest)[1];
  } else if (event === 'sched:sched_switch') e.next = +/next_pid=(\d+)/.exec(rest)[1];
  return e;
}

/** What runs on each CPU (from sched_switch): a wake-up of a CPU running the idle task (pid 0) leaves halt first. */
const current = new Map();

const isWake = (e, by, target) => e.event === 'sched:sched_waking' && e.tid === by && e.target === target;
const isOn = (e, tid) => e.event === 'sched:sched_switch' && e.next === tid;
const isEnter = (e, tid, nr) => e.event === 'raw_syscalls:sys_enter' && e.tid === tid && e.nr === nr;
const isReady = (e, tid) => e.event === 'raw_syscalls:sys_exit' && e.tid === tid && e.nr === 7 && e.ret > 0;

/** Follows one ping from its send; yields its marks (µs) or nothing when the trace does not show the whole path. */
function* follow() {
  for (;;) {
    let e = yield null;
    if (!(e.comm === 'ping' && e.event === 'raw_syscalls:sys_enter' && SEND.has(e.nr))) continue;
    const ping = e.tid;
    const marks = [e.t];
    let la = 0, lb = 0, idleA = false, idleB = false;
    const steps = [
      (x) => {
        if (x.event !== 'sched:sched_waking' || x.tid !== ping || x.target === ping) return false;
        la = x.target; idleA = current.get(x.targetCpu) === 0; return true;
      },
      (x) => isOn(x, la),
      (x) => isEnter(x, la, 1),
      (x) => {
        if (x.event !== 'sched:sched_waking' || x.tid !== la || x.target === la || x.target === ping) return false;
        lb = x.target; idleB = current.get(x.targetCpu) === 0; return true;
      },
      (x) => isOn(x, lb),
      (x) => isEnter(x, lb, 1),
      (x) => isReady(x, lb),
      (x) => isEnter(x, lb, 1),
      (x) => isWake(x, lb, la) || isReady(x, la),
      (x) => isEnter(x, la, 1),
      (x) => isWake(x, la, ping),
      (x) => x.event === 'raw_syscalls:sys_exit' && x.tid === ping && RECV.has(x.nr) && x.ret > 0,
    ];
    while (marks.length <= steps.length) {
      e = yield null;
      if (e.t - marks[0] > 20_000) break; // lost: > 20 ms
      if (steps[marks.length - 1](e)) marks.push(e.t);
    }
    if (marks.length > steps.length) yield { marks, idleA, idleB };
  }
}

function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const events = [];
  for await (const line of rl) {
    const e = parse(line);
    if (e) events.push(e);
  }
  // The trace is system-wide: other pings on the host are left out by taking the ping thread that sent the most.
  const sends = new Map();
  for (const e of events) {
    if (e.comm === 'ping' && e.event === 'raw_syscalls:sys_enter' && SEND.has(e.nr)) {
      sends.set(e.tid, (sends.get(e.tid) ?? 0) + 1);
    }
  }
  const ours = [...sends].sort((a, b) => b[1] - a[1])[0]?.[0];
  const it = follow();
  it.next();
  const pings = [];
  // One follower at a time is enough at 10 ms between pings: a round trip is well under that.
  for (const e of events) {
    if (e.event === 'sched:sched_switch') current.set(e.cpu, e.next);
    if (e.comm === 'ping' && e.tid !== ours) continue;
    const r = it.next(e).value;
    if (r) { pings.push(r); it.next(); }
  }
  if (pings.length === 0) { console.log('no ping path through two loops found in the trace'); return; }
  const n = pings.length;
  console.log(`${n} of ${sends.get(ours)} pings followed; loop A woken onto an idle CPU in `
    + `${pings.filter((p) => p.idleA).length}, loop B in ${pings.filter((p) => p.idleB).length}`);
  console.log('| segment | median µs | p90 µs | what runs there |\n|---|---|---|---|');
  SEGMENTS.forEach(([name, what], i) => {
    const d = pings.map((p) => p.marks[i + 1] - p.marks[i]).sort((a, b) => a - b);
    console.log(`| ${name} | ${pct(d, 0.5)} | ${pct(d, 0.9)} | ${what} |`);
  });
  const tot = pings.map((p) => p.marks[SEGMENTS.length] - p.marks[0]).sort((a, b) => a - b);
  console.log(`| whole round trip (traced) | ${pct(tot, 0.5)} | ${pct(tot, 0.9)} | |`);
}

main();
