#!/usr/bin/env node
// Where one ping's round trip through two userspace VXLAN nodes spends its time, from a scheduler + syscall trace
// (`PING_TRACE=/tmp/t bench/datapath-steps.sh` records one per mode; `perf script -F comm,tid,cpu,time,event,trace
// -i FILE | node bench/ping-timeline.js`). Each ping is followed through its wake-ups: ping → loop A (TUN) → loop B
// (UDP) → loop A (UDP, often still spinning) → ping, and the time between them is split into segments. Prints the
// median and p90 of each segment in µs, and how often a loop was woken onto an idle CPU (on this VM a halted vCPU: a round trip
// to the host).
'use strict';
const readline = require('node:readline');

const LINE = /^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
const SEND = new Set([44, 46]); // sendto, sendmsg
const RECV = new Set([45, 47]); // recvfrom, recvmsg

const SEGMENTS = [
  ['ping send → loop A woken', 'the pod\'s stack, routing into the TUN, the wake-up call'],
  ['loop A woken → on CPU', 'wake-up latency: IPI, vCPU out of halt, run-queue wait'],
  ['loop A on CPU → loop B woken', 'poll return, TUN read, encap, TAP write with forwarding and veth inline'],
  ['loop B woken → on CPU', 'wake-up latency'],
  ['loop B on CPU → loop A has the reply', 'recv, decap, TUN write (echo reply inline), read, encap, send back'],
  ['loop A has reply → ping woken', 'recv, decap, TUN write'],
  ['ping woken → ping has reply', 'ping back on a CPU and its recvmsg'],
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

/** Follows one ping from its send; returns the eight marks (µs) or null when the trace does not show the path. */
function* follow() {
  for (;;) {
    let e = yield null;
    if (!(e.comm === 'ping' && e.event === 'raw_syscalls:sys_enter' && SEND.has(e.nr))) continue;
    const ping = e.tid;
    const marks = [e.t];
    let la = 0, lb = 0, stage = 1, idleA = false, idleB = false;
    while (stage < 8) {
      e = yield null;
      if (e.t - marks[0] > 20_000) break; // lost: > 20 ms
      if (stage === 1 && e.event === 'sched:sched_waking' && e.tid === ping && e.target !== ping) {
        la = e.target; idleA = current.get(e.targetCpu) === 0; marks.push(e.t); stage = 2;
      } else if (stage === 2 && e.event === 'sched:sched_switch' && e.next === la) {
        marks.push(e.t); stage = 3;
      } else if (stage === 3 && e.event === 'sched:sched_waking' && e.tid === la && e.target !== la
          && e.target !== ping) {
        lb = e.target; idleB = current.get(e.targetCpu) === 0; marks.push(e.t); stage = 4;
      } else if (stage === 4 && e.event === 'sched:sched_switch' && e.next === lb) {
        marks.push(e.t); stage = 5;
      } else if (stage === 5 && ((e.event === 'sched:sched_waking' && e.tid === lb && e.target === la)
          || (e.event === 'raw_syscalls:sys_exit' && e.tid === la && e.nr === 7 && e.ret > 0))) {
        marks.push(e.t); stage = 6;
      } else if (stage === 6 && e.event === 'sched:sched_waking' && e.tid === la && e.target === ping) {
        marks.push(e.t); stage = 7;
      } else if (stage === 7 && e.event === 'raw_syscalls:sys_exit' && e.tid === ping && RECV.has(e.nr) && e.ret > 0) {
        marks.push(e.t); stage = 8;
      }
    }
    if (stage === 8) yield { marks, idleA, idleB };
  }
}

function pct(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]; }

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const it = follow();
  it.next();
  const pings = [];
  // One follower at a time is enough at 10 ms between pings: a round trip is well under that.
  for await (const line of rl) {
    const e = parse(line);
    if (!e) continue;
    if (e.event === 'sched:sched_switch') current.set(e.cpu, e.next);
    const r = it.next(e).value;
    if (r) { pings.push(r); it.next(); }
  }
  if (pings.length === 0) { console.log('no complete ping path found in the trace'); return; }
  const n = pings.length;
  console.log(`${n} pings followed; loop A woken onto an idle CPU in ${pings.filter((p) => p.idleA).length}, `
    + `loop B in ${pings.filter((p) => p.idleB).length}`);
  console.log('| segment | median µs | p90 µs | what runs there |\n|---|---|---|---|');
  SEGMENTS.forEach(([name, what], i) => {
    const d = pings.map((p) => p.marks[i + 1] - p.marks[i]).sort((a, b) => a - b);
    console.log(`| ${name} | ${pct(d, 0.5)} | ${pct(d, 0.9)} | ${what} |`);
  });
  const tot = pings.map((p) => p.marks[7] - p.marks[0]).sort((a, b) => a - b);
  console.log(`| whole round trip (traced) | ${pct(tot, 0.5)} | ${pct(tot, 0.9)} | |`);
}

main();
