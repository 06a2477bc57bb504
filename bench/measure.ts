// One repetition of every datapath metric on a built path: iperf3 TCP (1 and 4 streams, reverse), UDP 64-byte
// packet rate, ping RTTs, and the CPU the daemons and the whole machine spent per gigabit on the 1-stream run.
// A failing metric becomes an error note; the others still run.
import { performance } from 'node:perf_hooks';
import { execCommand, inNetns, isAlive } from '../test/support/netns.js';
import { cpuSecondsPerGbit, tickDelta } from './cpu.js';
import { parseIperfJson, type IperfRun } from './iperf.js';
import { IPERF_PORT, type PathUnderTest } from './paths.js';
import { parsePingRttsUs, summariseRtts } from './ping.js';
import { clockTicksPerSecond, snapshotMachine, snapshotTree } from './proc.js';
import type { DatapathMetric } from './results.js';

export interface RunSettings {
  readonly seconds: number;
  readonly omitSeconds: number;
  readonly pingCount: number;
}

export interface RepetitionSample {
  readonly values: Partial<Record<DatapathMetric, number>>;
  readonly errors: string[];
}

interface IperfMeasurement {
  readonly run: IperfRun;
  readonly wallSeconds: number;
  readonly daemonTicks: number;
  readonly machineBusyTicks: number;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

async function iperf(p: PathUnderTest, s: RunSettings, extra: readonly string[]): Promise<IperfMeasurement> {
  const argv = ['iperf3', '-c', p.serverIp, '-p', String(IPERF_PORT), '-t', String(s.seconds), '-O', String(s.omitSeconds),
    '--connect-timeout', '3000', '--json', ...extra];
  const daemonsBefore = snapshotTree(p.daemonPids);
  const machineBefore = snapshotMachine();
  const t0 = performance.now();
  const r = await execCommand(inNetns(p.clientNs, argv), { timeoutMs: (s.seconds + s.omitSeconds + 20) * 1000 });
  const wallSeconds = (performance.now() - t0) / 1000;
  const machineAfter = snapshotMachine();
  const daemonsAfter = snapshotTree(p.daemonPids);
  if (r.stdout.trim() === '') throw new Error(`iperf3 ${extra.join(' ')} exited ${r.code}: ${firstLine(r.stderr)}`);
  const run = parseIperfJson(r.stdout);
  return { run, wallSeconds, daemonTicks: tickDelta(daemonsBefore, daemonsAfter),
    machineBusyTicks: machineAfter.busyTicks - machineBefore.busyTicks };
}

function gbps(run: IperfRun): number {
  if (run.protocol !== 'tcp') throw new Error('expected a TCP iperf3 run');
  return run.receiverBps / 1e9;
}

/** Runs `step`, recording its error under `label` instead of throwing. */
async function guarded(errors: string[], label: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (e) {
    errors.push(`${label}: ${firstLine((e as Error).message)}`);
  }
}

export async function measureRepetition(p: PathUnderTest, s: RunSettings): Promise<RepetitionSample> {
  const values: Partial<Record<DatapathMetric, number>> = {};
  const errors: string[] = [];
  const clk = clockTicksPerSecond();
  await guarded(errors, 'TCP 1 stream', async () => {
    const m = await iperf(p, s, []);
    const g = gbps(m.run);
    values.tcp_gbps = g;
    const machine = cpuSecondsPerGbit(m.machineBusyTicks, clk, g, m.wallSeconds);
    if (machine !== null) values.machine_cpu_s_per_gbit = machine;
    if (p.daemonPids.length > 0) {
      const daemon = cpuSecondsPerGbit(m.daemonTicks, clk, g, m.wallSeconds);
      if (daemon !== null) values.cpu_s_per_gbit = daemon;
    }
  });
  await guarded(errors, 'TCP 4 streams', async () => { values.tcp4_gbps = gbps((await iperf(p, s, ['-P', '4'])).run); });
  await guarded(errors, 'TCP reverse', async () => { values.tcp_rev_gbps = gbps((await iperf(p, s, ['-R'])).run); });
  await guarded(errors, 'UDP 64 B', async () => {
    const m = await iperf(p, s, ['-u', '-b', '0', '-l', '64']);
    if (m.run.protocol !== 'udp') throw new Error('expected a UDP iperf3 run');
    values.udp_kpps = m.run.receivedKpps;
  });
  await guarded(errors, 'ping', async () => {
    const rtts = await pingRtts(p, s.pingCount);
    // The first echo can pay for neighbour resolution; it is not the path's steady state.
    const summary = summariseRtts(rtts.slice(1));
    values.rtt_us = summary.p50Us;
    values.rtt_p99_us = summary.p99Us;
  });
  // A daemon that died mid-run explains every failure above better than the tools' own messages.
  for (const pid of p.daemonPids) if (!isAlive(pid)) errors.push(`daemon pid ${pid} is no longer running`);
  return { values, errors };
}

export async function pingRtts(p: PathUnderTest, count: number): Promise<number[]> {
  const r = await execCommand(inNetns(p.clientNs, ['ping', '-n', '-i', '0.01', '-c', String(count), '-W', '1', p.serverIp]),
    { timeoutMs: (count * 0.01 + 10) * 1000 });
  const rtts = parsePingRttsUs(r.stdout);
  if (rtts.length < 2) throw new Error(`ping exited ${r.code} with ${rtts.length} answers: ${firstLine(r.stderr || r.stdout)}`);
  return rtts;
}

/** Brings caches, ARP, TCP metrics and CPU frequency to steady state before anything counts. */
export async function warmUp(p: PathUnderTest, s: RunSettings): Promise<void> {
  await pingRtts(p, 20).catch(() => undefined);
  await iperf(p, { ...s, seconds: 1, omitSeconds: 0 }, []).catch(() => undefined);
}
