// Control-plane figures of one daemon command (the real upstream flanneld, or tsflanneld with a vxlan datapath) on a
// one-host testbed, vxlan with DirectRouting so that every datapath programs one kernel route per peer (the userspace
// datapath keeps other peers in its own table, where no monitor sees them):
//  - start: daemon start → subnet.env written, and → /readyz answering 200 (upstream v0.28.9 serves /readyz too),
//    the median of several starts, measured in rounds across all daemons (start-rounds.ts) so that the machine's
//    drift hits every column alike;
//  - idle: RSS (in all, private, file-backed: memory.ts) and threads after some seconds of idling, then the CPU it
//    spends over a window;
//  - convergence: N synthetic peer leases written to etcd while the daemon runs; per lease, its put sent → its route
//    appearing in the host's table (ip monitor), p50/p99, and first write → last route in total;
//  - RSS of the daemon at N peers, split the same way;
//  - programming rate: the daemon restarted with N leases already in etcd and its routes flushed, routes per second
//    from its first route to its last.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Testbed, poll, type Host } from '../test/support/testbed.js';
import { execCommand, inNetns, mustExec } from '../test/support/netns.js';
import { readSubnetEnv } from '../test/support/subnet-env.js';
import { formatCidr, parseCidr } from '../src/net/ipv4.js';
import { lastDaemonError } from './daemon-log.js';
import { startDaemonCommand, warmCompileCache, type DaemonCommand } from './daemons.js';
import { syntheticLeases, type SyntheticLease } from './peers.js';
import { WRITER_CLIENTS, WRITER_IN_FLIGHT } from './agents/writer-plan.js';
import { cpuNsOfTree, memoryOf, threadCount } from './proc.js';
import { emptyControl, type ControlDaemonName, type ControlResult } from './results.js';
import { RouteMonitor, epochMs } from './route-monitor.js';
import { startOrder, type StartSample } from './start-rounds.js';
import { median, percentile } from './stats.js';

const NETWORK = '10.64.0.0/12';
const SUBNET_LEN = 24;
const HEALTHZ_PORT = 9876;
const AGENTS = path.join(__dirname, 'agents');

interface StartTimes {
  readonly subnetEnvMs: number;
  readonly readyMs: number | null;
}

/** Starts the daemon and times subnet.env (polled every 2 ms) and /readyz (probed from inside the namespace). */
async function startAndTime(tb: Testbed, h: Host, cmd: DaemonCommand, args: readonly string[]): Promise<StartTimes> {
  fs.rmSync(h.subnetFile, { force: true });
  const probe = spawn('ip', ['netns', 'exec', h.netns, process.execPath, path.join(AGENTS, 'ready-probe.js'),
    `http://${h.ip}:${HEALTHZ_PORT}/readyz`, '30000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let probeOut = '';
  probe.stdout.setEncoding('utf8').on('data', (d: string) => { probeOut += d; });
  const probeDone = new Promise<void>((resolve) => probe.on('close', () => resolve()));
  const t0 = epochMs();
  startDaemonCommand(tb, h, cmd, args);
  await poll('subnet.env', () => {
    const d = h.daemon;
    if (d !== null && (d.exitCode !== null || d.signalCode !== null)) {
      throw new Error(`daemon exited (${d.exitCode ?? d.signalCode}) before writing subnet.env: `
        + (lastDaemonError(tb.daemonLog(h)) ?? 'no output'));
    }
    return readSubnetEnv(h.subnetFile);
  }, 30_000, 2);
  const subnetEnvMs = epochMs() - t0;
  await Promise.race([probeDone, new Promise((r) => setTimeout(r, 5000))]);
  if (probe.exitCode === null && probe.pid !== undefined) {
    try { process.kill(probe.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  const readyAt = Number(probeOut.trim());
  return { subnetEnvMs, readyMs: probeOut.trim() !== '' && Number.isFinite(readyAt) ? readyAt - t0 : null };
}

interface Convergence {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly totalMs: number;
  readonly writerMs: number;
}

/** Writes the leases from inside the host (etcd is reachable only there) and times each route's arrival. */
async function measureConvergence(tb: Testbed, h: Host, leases: readonly SyntheticLease[], monitor: RouteMonitor,
  timeoutMs: number, report: (msg: string) => void): Promise<Convergence> {
  const file = path.join(tb.dir, 'leases.json');
  fs.writeFileSync(file, JSON.stringify(leases.map((l) => ({ key: l.key, value: l.value }))));
  const writer = await execCommand(inNetns(h.netns, [process.execPath, path.join(AGENTS, 'lease-writer.js'),
    tb.etcdEndpoint, file, String(WRITER_IN_FLIGHT), String(WRITER_CLIENTS)]), { timeoutMs });
  if (writer.code !== 0) throw new Error(`writing leases failed: ${writer.stderr.trim()}`);
  const { firstPutAt, sent, acked } = JSON.parse(writer.stdout.trim()) as { firstPutAt: number;
    sent: Record<string, number>; acked: Record<string, number> };
  await monitor.waitFor(leases.map((l) => l.subnet), timeoutMs);
  const programmed = leases.map((l) => monitor.firstAdded.get(l.subnet) as number);
  const delays = leases.map((l, i) => (programmed[i] as number) - (sent[l.key] ?? NaN));
  const totalMs = Math.max(...programmed) - firstPutAt;
  const writerMs = Math.max(...Object.values(acked)) - firstPutAt;
  report(`control plane: all ${leases.length} routes in ${totalMs.toFixed(0)} ms (writes took `
    + `${writerMs.toFixed(0)} ms); per-lease delay `
    + `${percentile(delays, 0).toFixed(1)}–${percentile(delays, 100).toFixed(1)} ms`);
  return { p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), totalMs, writerMs };
}

/** Routes per second from the first to the last route a freshly started daemon programs for leases already in etcd. */
async function measureProgramRate(tb: Testbed, h: Host, cmd: DaemonCommand, args: readonly string[],
  dsts: readonly string[], monitor: RouteMonitor, timeoutMs: number): Promise<number | null> {
  await stopQuietly(tb, h);
  await mustExec(['ip', '-n', h.netns, 'route', 'flush', 'root', NETWORK]);
  monitor.reset();
  await startAndTime(tb, h, cmd, args);
  await monitor.waitFor(dsts, timeoutMs);
  const times = dsts.map((d) => monitor.firstAdded.get(d) as number);
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return span > 0 ? (dsts.length - 1) / span : null;
}

/** Stops the daemon; one that outlives the testbed's 10 s grace is killed by it, which is all a benchmark needs. */
async function stopQuietly(tb: Testbed, h: Host): Promise<void> {
  await tb.stopDaemon(h).catch(() => undefined);
}

export interface ControlSettings {
  readonly peers: number;
  readonly starts: number;
  readonly idleSeconds: number;
  readonly idleCpuSeconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** RSS and threads after idling, then the CPU spent over the next window. */
async function measureIdle(h: Host, s: ControlSettings, result: Mutable<ControlResult>): Promise<void> {
  const pid = h.daemon?.pid;
  if (pid === undefined) throw new Error('no daemon to measure idle');
  await sleep(s.idleSeconds * 1000);
  result.idleSeconds = s.idleSeconds;
  const mem = memoryOf(pid);
  result.idleRssMb = mem?.rssMb ?? null;
  result.idleRssAnonMb = mem?.anonMb ?? null;
  result.idleRssFileMb = mem?.fileMb ?? null;
  result.threads = threadCount(pid);
  const before = cpuNsOfTree([pid]);
  await sleep(s.idleCpuSeconds * 1000);
  const after = cpuNsOfTree([pid]);
  result.idleCpuWindowS = s.idleCpuSeconds;
  result.idleCpuS = Math.max(0, after - before) / 1e9;
}

/** One daemon's testbed, kept from its preparation through the start rounds to its remaining measures. */
export interface ControlBench {
  readonly name: ControlDaemonName;
  readonly cmd: DaemonCommand;
  readonly tb: Testbed;
  readonly h: Host;
  readonly args: readonly string[];
  readonly samples: StartSample[];
  readonly errors: string[];
  /** Set once a start failed: the daemon leaves the rounds and gets no further figures. */
  failed: boolean;
}

/** Its testbed built and its code cache warmed (an untimed start), so every timed start is a node's restart. */
export async function prepareControl(name: ControlDaemonName, cmd: DaemonCommand, report: (msg: string) => void):
Promise<ControlBench> {
  report(`control plane ${name}: building the testbed, warming the code cache`);
  const tb = await Testbed.create({ hosts: 1 });
  try {
    const h = tb.host(1);
    await tb.putConfig({ Network: NETWORK, SubnetLen: SUBNET_LEN, Backend: { Type: 'vxlan', DirectRouting: true } });
    const args = ['--healthz-ip', h.ip, '--healthz-port', String(HEALTHZ_PORT)];
    await warmCompileCache(tb, h, cmd, args);
    return { name, cmd, tb, h, args, samples: [], errors: [], failed: false };
  } catch (e) {
    await tb.destroy().catch(() => undefined);
    throw e;
  }
}

/** One timed start, stopped again at once so that no daemon idles beside another's timed start. */
export async function timedStart(b: ControlBench, round: number, position: number): Promise<StartSample | null> {
  try {
    const t = await startAndTime(b.tb, b.h, b.cmd, b.args);
    const sample = { round, position, subnetEnvMs: t.subnetEnvMs, readyMs: t.readyMs };
    b.samples.push(sample);
    return sample;
  } catch (e) {
    b.failed = true;
    b.errors.push((e as Error).message.split('\n')[0] ?? String(e));
    return null;
  } finally {
    await stopQuietly(b.tb, b.h);
  }
}

/** The start medians of the rounds, then idle, convergence and programming rate on a fresh (untimed) start. */
export async function finishControl(b: ControlBench, s: ControlSettings, report: (msg: string) => void):
Promise<ControlResult> {
  const { name, tb, h: h1, errors } = b;
  const result: Mutable<ControlResult> = { ...emptyControl(name, s.peers, []), errors, startRounds: b.samples };
  const env = b.samples.map((x) => x.subnetEnvMs);
  const ready = b.samples.flatMap((x) => (x.readyMs === null ? [] : [x.readyMs]));
  result.starts = b.samples.length;
  result.subnetEnvMs = env.length > 0 ? median(env) : null;
  result.readyMs = ready.length > 0 ? median(ready) : null;
  if (ready.length < env.length) {
    errors.push(`/readyz never answered 200 in ${env.length - ready.length} of ${env.length} starts`);
  }
  if (b.failed) return result;
  let monitor: RouteMonitor | null = null;
  try {
    await startAndTime(tb, h1, b.cmd, b.args);
    report(`control plane ${name}: idling ${s.idleSeconds} s, then counting CPU over ${s.idleCpuSeconds} s`);
    await measureIdle(h1, s, result);

    const own = readSubnetEnv(h1.subnetFile);
    const ownNet = own === null ? null : parseCidr(own.subnet);
    const leases = syntheticLeases(s.peers, { prefix: tb.prefix, network: NETWORK, subnetLen: SUBNET_LEN,
      exclude: ownNet === null ? [] : [formatCidr(ownNet)], underlayBase: '192.0.2', firstHost: 100, lastHost: 250,
      backend: 'vxlan' });
    const timeoutMs = 30_000 + s.peers * 50;
    monitor = new RouteMonitor(h1.netns);
    await sleep(200); // let `ip monitor` subscribe before the first route can appear

    report(`control plane ${name}: writing ${s.peers} peer leases`);
    const c = await measureConvergence(tb, h1, leases, monitor, timeoutMs, (m) => report(`${name}: ${m}`));
    result.convergeP50Ms = c.p50Ms;
    result.convergeP99Ms = c.p99Ms;
    result.convergeTotalMs = c.totalMs;
    result.convergeWriterMs = c.writerMs;
    const pid = h1.daemon?.pid;
    const mem = pid === undefined ? null : memoryOf(pid);
    result.rssMb = mem?.rssMb ?? null;
    result.rssAnonMb = mem?.anonMb ?? null;
    result.rssFileMb = mem?.fileMb ?? null;

    report(`control plane ${name}: restarting the daemon with ${s.peers} leases in etcd`);
    result.programPerS = await measureProgramRate(tb, h1, b.cmd, b.args, leases.map((l) => l.subnet), monitor,
      timeoutMs);
  } catch (e) {
    errors.push((e as Error).message.split('\n')[0] ?? String(e));
  } finally {
    monitor?.stop();
  }
  return result;
}

/**
 * Every daemon's testbed built and warmed first, then `starts` rounds of timed starts (interleaved, the first
 * daemon rotating), then each daemon's remaining measures in turn. A daemon whose testbed cannot be built gets an
 * error row; every testbed is removed at the end, pass or fail.
 */
export async function measureControlPlanes(daemons: readonly { name: ControlDaemonName; cmd: DaemonCommand }[],
  s: ControlSettings, report: (msg: string) => void): Promise<ControlResult[]> {
  const benches: ControlBench[] = [];
  const failed = new Map<ControlDaemonName, ControlResult>();
  try {
    for (const d of daemons) {
      try {
        benches.push(await prepareControl(d.name, d.cmd, report));
      } catch (e) {
        failed.set(d.name, emptyControl(d.name, s.peers, [(e as Error).message.split('\n')[0] ?? String(e)]));
      }
    }
    for (const slot of startOrder(benches, s.starts)) {
      if (slot.item.failed) continue;
      const t = await timedStart(slot.item, slot.round, slot.position);
      report(`control plane round ${slot.round + 1}/${s.starts}: ${slot.item.name} `
        + (t === null ? 'FAILED'
          : `subnet.env ${t.subnetEnvMs.toFixed(0)} ms, READY ${t.readyMs?.toFixed(0) ?? '–'} ms`));
    }
    const done = new Map<ControlDaemonName, ControlResult>(failed);
    for (const b of benches) {
      done.set(b.name, await finishControl(b, s, report));
      await b.tb.destroy().catch((e: unknown) => b.errors.push(`cleanup: ${(e as Error).message}`));
    }
    return daemons.map((d) => done.get(d.name) as ControlResult);
  } finally {
    for (const b of benches) await b.tb.destroy().catch(() => undefined);
  }
}
