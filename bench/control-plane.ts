// Control-plane figures on a one-host testbed running the host-gw backend:
//  - ready: daemon start → subnet.env written, and → /readyz answering 200;
//  - convergence: N synthetic peer leases written to etcd while the daemon runs; per lease, etcd's ack → its route
//    appearing in the host's table (ip monitor), p50/p99, and first write → last route in total;
//  - RSS of the daemon at N peers;
//  - programming rate: the daemon restarted with N leases already in etcd and its routes flushed, routes per second
//    from its first route to its last.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Testbed, poll, type Host } from '../test/harness/testbed.js';
import { execCommand, inNetns, mustExec } from '../test/harness/netns.js';
import { readSubnetEnv } from '../test/harness/subnet-env.js';
import { formatCidr, parseCidr } from '../src/net/ipv4.js';
import { lastDaemonError } from './daemon-log.js';
import { syntheticLeases, type SyntheticLease } from './peers.js';
import { rssMb } from './proc.js';
import type { ControlResult } from './results.js';
import { RouteMonitor, epochMs } from './route-monitor.js';
import { percentile } from './stats.js';

const NETWORK = '10.64.0.0/12';
const SUBNET_LEN = 24;
const HEALTHZ_PORT = 9876;
const AGENTS = path.join(__dirname, 'agents');

interface StartTimes {
  readonly subnetEnvMs: number;
  readonly readyMs: number | null;
}

/** Starts the daemon and times subnet.env (polled every 2 ms) and /readyz (probed from inside the namespace). */
async function startAndTime(tb: Testbed, h: Host, args: readonly string[]): Promise<StartTimes> {
  fs.rmSync(h.subnetFile, { force: true });
  const probe = spawn('ip', ['netns', 'exec', h.netns, process.execPath, path.join(AGENTS, 'ready-probe.js'),
    `http://${h.ip}:${HEALTHZ_PORT}/readyz`, '30000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let probeOut = '';
  probe.stdout.setEncoding('utf8').on('data', (d: string) => { probeOut += d; });
  const probeDone = new Promise<void>((resolve) => probe.on('close', () => resolve()));
  const t0 = epochMs();
  tb.startDaemon(h, args);
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
}

/** Writes the leases from inside the host (etcd is reachable only there) and times each route's arrival. */
async function measureConvergence(tb: Testbed, h: Host, leases: readonly SyntheticLease[], monitor: RouteMonitor,
  timeoutMs: number, report: (msg: string) => void): Promise<Convergence> {
  const file = path.join(tb.dir, 'leases.json');
  fs.writeFileSync(file, JSON.stringify(leases.map((l) => ({ key: l.key, value: l.value }))));
  const writer = await execCommand(inNetns(h.netns, [process.execPath, path.join(AGENTS, 'lease-writer.js'),
    tb.etcdEndpoint, file, '16']), { timeoutMs });
  if (writer.code !== 0) throw new Error(`writing leases failed: ${writer.stderr.trim()}`);
  const { firstPutAt, acked } = JSON.parse(writer.stdout.trim()) as { firstPutAt: number; acked: Record<string, number> };
  await monitor.waitFor(leases.map((l) => l.subnet), timeoutMs);
  const programmed = leases.map((l) => monitor.firstAdded.get(l.subnet) as number);
  const delays = leases.map((l, i) => (programmed[i] as number) - (acked[l.key] ?? NaN));
  const totalMs = Math.max(...programmed) - firstPutAt;
  report(`control plane: all ${leases.length} routes in ${totalMs.toFixed(0)} ms (writes took `
    + `${(Math.max(...Object.values(acked)) - firstPutAt).toFixed(0)} ms); per-lease delay `
    + `${percentile(delays, 0).toFixed(1)}–${percentile(delays, 100).toFixed(1)} ms`);
  return { p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), totalMs };
}

/** Routes per second from the first to the last route a freshly started daemon programs for leases already in etcd. */
async function measureProgramRate(tb: Testbed, h: Host, args: readonly string[], dsts: readonly string[],
  monitor: RouteMonitor, timeoutMs: number): Promise<number | null> {
  await tb.stopDaemon(h);
  await mustExec(['ip', '-n', h.netns, 'route', 'flush', 'root', NETWORK]);
  monitor.reset();
  await startAndTime(tb, h, args);
  await monitor.waitFor(dsts, timeoutMs);
  const times = dsts.map((d) => monitor.firstAdded.get(d) as number);
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return span > 0 ? (dsts.length - 1) / span : null;
}

export async function measureControlPlane(peers: number, report: (msg: string) => void): Promise<ControlResult> {
  const errors: string[] = [];
  const result: { -readonly [K in keyof ControlResult]: ControlResult[K] } = {
    peers, readyMs: null, subnetEnvMs: null, convergeP50Ms: null, convergeP99Ms: null, convergeTotalMs: null,
    programPerS: null, rssMb: null, errors,
  };
  let tb: Testbed | null = null;
  let monitor: RouteMonitor | null = null;
  try {
    tb = await Testbed.create({ hosts: 1 });
    const h1 = tb.host(1);
    await tb.putConfig({ Network: NETWORK, SubnetLen: SUBNET_LEN, Backend: { Type: 'host-gw' } });
    const args = ['--backend', 'host-gw', '--healthz-ip', h1.ip, '--healthz-port', String(HEALTHZ_PORT)];
    report('control plane: starting the daemon');
    const first = await startAndTime(tb, h1, args);
    result.subnetEnvMs = first.subnetEnvMs;
    result.readyMs = first.readyMs;
    if (first.readyMs === null) errors.push('/readyz never answered 200 (ready_ms is null)');

    const own = readSubnetEnv(h1.subnetFile);
    const ownNet = own === null ? null : parseCidr(own.subnet);
    const leases = syntheticLeases(peers, { prefix: tb.prefix, network: NETWORK, subnetLen: SUBNET_LEN,
      exclude: ownNet === null ? [] : [formatCidr(ownNet)], underlayBase: '192.0.2', firstHost: 100, lastHost: 250 });
    const timeoutMs = 30_000 + peers * 50;
    monitor = new RouteMonitor(h1.netns);
    await new Promise((r) => setTimeout(r, 200)); // let `ip monitor` subscribe before the first route can appear

    report(`control plane: writing ${peers} peer leases`);
    const c = await measureConvergence(tb, h1, leases, monitor, timeoutMs, report);
    result.convergeP50Ms = c.p50Ms;
    result.convergeP99Ms = c.p99Ms;
    result.convergeTotalMs = c.totalMs;
    const pid = h1.daemon?.pid;
    result.rssMb = pid === undefined ? null : rssMb(pid);

    report(`control plane: restarting the daemon with ${peers} leases in etcd`);
    result.programPerS = await measureProgramRate(tb, h1, args, leases.map((l) => l.subnet), monitor, timeoutMs);
  } catch (e) {
    errors.push((e as Error).message.split('\n')[0] ?? String(e));
  } finally {
    monitor?.stop();
    await tb?.destroy().catch((e: unknown) => errors.push(`cleanup: ${(e as Error).message}`));
  }
  return result;
}
