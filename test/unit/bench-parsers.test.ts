// The benchmark's readers of iperf3 --json reports, ping output, procfs and `ip monitor route` lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIperfJson } from '../../bench/iperf.js';
import { parsePingRttsUs, summariseRtts } from '../../bench/ping.js';
import {
  cpuSecondsPerGbit, parseProcPidStat, parseProcStat, processTree, tickDelta, parseSchedstatNs, parseThreads,
} from '../../bench/cpu.js';
import { parseProcMemory } from '../../bench/memory.js';
import { parseRouteMonitorLine } from '../../bench/route-monitor.js';
import { lastDaemonError } from '../../bench/daemon-log.js';

// The shape iperf3 3.12 prints, cut down to the fields that matter.
function tcpReport(sentBps: number, receivedBps: number, retransmits: number): string {
  return JSON.stringify({
    start: { test_start: { protocol: 'TCP', num_streams: 1, duration: 5 } },
    intervals: [],
    end: {
      streams: [],
      sum_sent: { start: 0, end: 5.0004, seconds: 5.0004, bytes: 1, bits_per_second: sentBps, retransmits, sender: true },
      sum_received: { start: 0, end: 5.0021, seconds: 5.0021, bytes: 1, bits_per_second: receivedBps, sender: true },
      cpu_utilization_percent: { host_total: 50 },
    },
  });
}

function udpReport(packets: number, lost: number, seconds: number): string {
  const sum = { start: 0, end: seconds, seconds, bytes: packets * 64, bits_per_second: 1, jitter_ms: 0.02,
    lost_packets: lost, packets, lost_percent: (100 * lost) / packets, sender: true };
  return JSON.stringify({
    start: { test_start: { protocol: 'UDP', num_streams: 1, blksize: 64, duration: 1 } },
    end: { streams: [], sum, sum_sent: { ...sum, lost_packets: 0 }, sum_received: { ...sum, sender: false } },
  });
}

test('iperf3 TCP: receiver and sender bits/s and retransmits', () => {
  const r = parseIperfJson(tcpReport(9.46e9, 9.43e9, 2));
  assert.deepEqual(r, { protocol: 'tcp', senderBps: 9.46e9, receiverBps: 9.43e9, retransmits: 2, seconds: 5.0021 });
});

test('iperf3 UDP: received kpps is (packets − lost) per second', () => {
  const r = parseIperfJson(udpReport(325010, 179306, 1.000213));
  assert.equal(r.protocol, 'udp');
  if (r.protocol !== 'udp') return;
  assert.equal(r.packetsSent, 325010);
  assert.equal(r.packetsLost, 179306);
  assert.ok(Math.abs(r.receivedKpps - 145.673) < 0.01, String(r.receivedKpps));
  assert.ok(Math.abs(r.sentKpps - 324.94) < 0.01, String(r.sentKpps));
});

test('iperf3 UDP kpps property: never negative, never above the sent rate', () => {
  fc.assert(fc.property(fc.nat(10_000_000), fc.nat(10_000_000), fc.double({ min: 0.1, max: 100, noNaN: true }),
    (packets, lost, seconds) => {
      const r = parseIperfJson(udpReport(packets, lost, seconds));
      assert.equal(r.protocol, 'udp');
      if (r.protocol !== 'udp') return;
      assert.ok(r.receivedKpps >= 0);
      assert.ok(r.receivedKpps <= r.sentKpps + 1e-9);
    }));
});

test('iperf3 failures become one clear error', () => {
  assert.throws(() => parseIperfJson(JSON.stringify({ start: {}, intervals: [], end: {},
    error: 'unable to connect to server: Connection refused' })), /iperf3 failed: unable to connect/);
  assert.throws(() => parseIperfJson('iperf3: error - unable to connect'), /not JSON/);
  assert.throws(() => parseIperfJson(JSON.stringify({ end: { sum_sent: { bits_per_second: 1 } } })),
    /end\.sum_received is missing/);
  assert.throws(() => parseIperfJson(JSON.stringify({ end: { sum_sent: { bits_per_second: 'x' }, sum_received: {} } })),
    /end\.sum_sent\.bits_per_second/);
});

const PING = `PING 10.42.2.2 (10.42.2.2) 56(84) bytes of data.
64 bytes from 10.42.2.2: icmp_seq=1 ttl=62 time=0.412 ms
64 bytes from 10.42.2.2: icmp_seq=2 ttl=62 time=0.105 ms
64 bytes from 10.42.2.2: icmp_seq=3 ttl=62 time=0.0980 ms
64 bytes from 10.42.2.2: icmp_seq=4 ttl=62 time=1.20 ms

--- 10.42.2.2 ping statistics ---
4 packets transmitted, 4 received, 0% packet loss, time 31ms
rtt min/avg/max/mdev = 0.098/0.453/1.200/0.450 ms
`;

test('ping: per-packet RTTs in µs, summary line ignored', () => {
  const rtts = parsePingRttsUs(PING);
  assert.deepEqual(rtts.map((x) => Math.round(x * 10) / 10), [412, 105, 98, 1200]);
  const s = summariseRtts(rtts);
  assert.equal(s.samples, 4);
  assert.equal(s.p50Us, (105 + 412) / 2);
  assert.ok(s.p99Us > 1100 && s.p99Us <= 1200);
});

test('ping: no answers is an error that says the path is down', () => {
  const rtts = parsePingRttsUs('PING x\n\n--- x ping statistics ---\n5 packets transmitted, 0 received, 100% packet loss\n');
  assert.deepEqual(rtts, []);
  assert.throws(() => summariseRtts(rtts), /path between the containers is down/);
});

test('ping: every printed time comes back in order (property)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 9_999_999 }), { maxLength: 50 }), (micros) => {
    const text = micros.map((u, i) => `64 bytes from 10.0.0.1: icmp_seq=${i + 1} ttl=64 time=${(u / 1000).toFixed(3)} ms`).join('\n');
    assert.deepEqual(parsePingRttsUs(text), micros.map((u) => Number((u / 1000).toFixed(3)) * 1000));
  }));
});

test('/proc/<pid>/stat: utime+stime and ppid, even with spaces and parentheses in the name', () => {
  const line = '4242 (node (worker) x) S 4200 4242 4200 0 -1 4194560 5000 0 0 0 1234 567 8 9 20 0 11 0 99999 '
    + '1000000 20000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  assert.deepEqual(parseProcPidStat(line), { pid: 4242, ppid: 4200, ticks: 1234 + 567 });
  assert.throws(() => parseProcPidStat('garbage'), /not a \/proc/);
});

test('/proc/stat: busy excludes idle and iowait', () => {
  const m = parseProcStat('cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\n');
  assert.deepEqual(m, { busyTicks: 100 + 5 + 50 + 3 + 7 + 2, totalTicks: 1187, softirqTicks: 7 });
});

test('process tree and tick deltas: descendants count, unrelated processes do not', () => {
  const all = [{ pid: 1, ppid: 0 }, { pid: 10, ppid: 1 }, { pid: 11, ppid: 10 }, { pid: 12, ppid: 11 }, { pid: 20, ppid: 1 }];
  assert.deepEqual(processTree([10], all).sort((a, b) => a - b), [10, 11, 12]);
  const before = [{ pid: 10, ppid: 1, ticks: 100 }, { pid: 11, ppid: 10, ticks: 50 }];
  const after = [{ pid: 10, ppid: 1, ticks: 130 }, { pid: 11, ppid: 10, ticks: 55 }, { pid: 12, ppid: 11, ticks: 4 }];
  assert.equal(tickDelta(before, after), 30 + 5 + 4);
});

test('CPU seconds per gigabit; a path that moved nothing has no figure', () => {
  // 200 ticks at 100 Hz = 2 s of CPU over 4 Gbit/s × 5 s = 20 Gbit.
  assert.equal(cpuSecondsPerGbit(200, 100, 4, 5), 0.1);
  assert.equal(cpuSecondsPerGbit(200, 100, 0, 5), null);
  assert.throws(() => cpuSecondsPerGbit(1, 0, 1, 1), /clock ticks/);
});

test('VmRSS, RssAnon and RssFile from /proc/<pid>/status in MiB', () => {
  const status = 'Name:\tnode\nVmRSS:\t   51200 kB\nRssAnon:\t   20480 kB\nRssFile:\t   30720 kB\n'
    + 'RssShmem:\t       0 kB\nThreads:\t11\n';
  assert.deepEqual(parseProcMemory(status), { rssMb: 50, anonMb: 20, fileMb: 30 });
  // A kernel before 4.5 has VmRSS only; a kernel thread or a zombie has none.
  assert.deepEqual(parseProcMemory('Name:\tnode\nVmRSS:\t   51200 kB\n'), { rssMb: 50, anonMb: null, fileMb: null });
  assert.equal(parseProcMemory('Name:\tkthreadd\n'), null);
});

test('ip monitor route lines: added and deleted prefixes; others ignored', () => {
  assert.deepEqual(parseRouteMonitorLine('10.64.3.0/24 via 192.0.2.105 dev eth0 proto static'),
    { added: true, dst: '10.64.3.0/24' });
  assert.deepEqual(parseRouteMonitorLine('Deleted 10.64.3.0/24 via 192.0.2.105 dev eth0'),
    { added: false, dst: '10.64.3.0/24' });
  assert.deepEqual(parseRouteMonitorLine('10.64.3.7 via 192.0.2.1 dev eth0'), { added: true, dst: '10.64.3.7/32' });
  assert.equal(parseRouteMonitorLine('local 192.0.2.11 dev eth0 table local proto kernel'), null);
  assert.equal(parseRouteMonitorLine('fe80::/64 dev eth0 proto kernel'), null);
});

test('daemon log: the last error line of pino JSON, else the last plain line', () => {
  const log = [
    '--- start 2026-11-27 --etcd-endpoints x',
    '{"level":30,"msg":"network config"}',
    '{"level":60,"msg":"cannot choose the external interface","err":{"message":"ENODEV"}}',
    '{"level":30,"msg":"exiting"}',
  ].join('\n');
  assert.equal(lastDaemonError(log), 'cannot choose the external interface: ENODEV');
  assert.equal(lastDaemonError('--- start x\nError: Cannot find module x\n    at y\n{"level":30,"msg":"a"}'),
    'Error: Cannot find module x');
  assert.equal(lastDaemonError('--- start x\n{"level":30,"msg":"a"}\n'), '{"level":30,"msg":"a"}');
  assert.equal(lastDaemonError(''), null);
});

test('procfs: Threads: from /proc/<pid>/status and the on-CPU nanoseconds of a schedstat line', () => {
  assert.equal(parseThreads('Name:\tflanneld\nThreads:\t8\nVmRSS:\t40960 kB\n'), 8);
  assert.equal(parseThreads('Name:\tzombie\n'), null);
  assert.equal(parseSchedstatNs('1305523 99158 1\n'), 1305523);
  assert.equal(parseSchedstatNs(''), null);
  assert.equal(parseSchedstatNs('x 1 2'), null);
});
