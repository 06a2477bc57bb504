// `npm run demo`: the seed scenario in network namespaces. etcd on host 1, the network config under
// /usr/local/bin/network, tsflanneld on each host, one container per host; prints each host's subnet.env, its
// routes and a ping matrix between the containers. With no --backend and a daemon that knows vxlan, it shows vxlan
// first and then writes host-gw over it, as the seed does: the running daemons follow without a restart. Ctrl-C or the end removes everything.
import { Command, InvalidArgumentError } from 'commander';
import * as path from 'node:path';
import { poll, Testbed, type Host } from '../support/testbed.js';
import { readSubnetEnv } from '../support/subnet-env.js';

const PREFIX = '/usr/local/bin/network';

interface DemoOptions {
  readonly backend?: string;
  readonly hosts: number;
  readonly keep: boolean;
  readonly vxlanFirst?: boolean;
  readonly vxlanDatapath?: string;
}

function parseHosts(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2 || n > 50) {
    throw new InvalidArgumentError(`--hosts ${v}: give a whole number from 2 to 50, e.g. --hosts 3`);
  }
  return n;
}

/** True when the built daemon registers a vxlan backend (the vxlan issues may not have landed yet). */
function daemonKnowsVxlan(): boolean {
  try {
    const dist = path.resolve(__dirname, '..', '..', 'src', 'backend');
    require(path.join(dist, 'all.js'));
    const registry = require(path.join(dist, 'registry.js')) as { supportedBackends(): string[] };
    return registry.supportedBackends().includes('vxlan');
  } catch {
    return false;
  }
}

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function banner(text: string): void {
  console.log(`\n${bold(`━━ ${text} `.padEnd(78, '━'))}`);
}

async function showHosts(tb: Testbed): Promise<void> {
  for (const h of tb.hosts) {
    const env = await tb.waitForSubnetEnv(h);
    console.log(`\n${bold(`${h.name}`)}  underlay ${h.ip}  container ${h.containers[0]?.ip ?? '-'}`);
    console.log(`  ${h.subnetFile}:`);
    for (const line of env.raw.trimEnd().split('\n')) console.log(`    ${line}`);
    console.log('  ip route:');
    for (const line of await tb.routes(h)) console.log(`    ${line}`);
  }
  console.log(`\n${bold('leases in etcd')} (${PREFIX}/subnets):`);
  for (const [k, v] of await tb.leases()) console.log(`  ${k}  ${v}`);
}

/** Every container pings every other; returns true when all answered. Waits a while for routes to settle. */
async function pingMatrix(tb: Testbed): Promise<boolean> {
  const hosts = tb.hosts;
  const ok: boolean[][] = [];
  for (const a of hosts) {
    const row: boolean[] = [];
    for (const b of hosts) {
      const from = a.containers[0];
      const to = b.containers[0];
      if (from === undefined || to === undefined) { row.push(false); continue; }
      row.push(await poll('ping', () => tb.ping(from, to.ip), 20_000, 200).catch(() => false));
    }
    ok.push(row);
  }
  const w = 10;
  console.log(`\n${bold('ping matrix')} (row pings column, container to container):`);
  console.log(`  ${''.padEnd(w)}${hosts.map((h) => `${h.name}:${h.containers[0]?.ip ?? '?'}`.padEnd(14)).join('')}`);
  hosts.forEach((h, i) => {
    console.log(`  ${h.name.padEnd(w)}${(ok[i] ?? []).map((v) => (v ? 'ok' : 'FAIL').padEnd(14)).join('')}`);
  });
  return ok.every((row) => row.every(Boolean));
}

async function startAll(tb: Testbed, extraArgs: readonly string[]): Promise<void> {
  for (const h of tb.hosts) tb.startDaemon(h, extraArgs);
  for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
}

async function stopAll(tb: Testbed): Promise<void> {
  for (const h of tb.hosts) await tb.stopDaemon(h);
}

/** The last error a daemon logged (pino JSON, level ≥ 50), for a one-line explanation. */
function lastDaemonError(tb: Testbed): string {
  for (const h of tb.hosts) {
    const lines = tb.daemonLog(h).split('\n').reverse();
    for (const line of lines) {
      try {
        const rec = JSON.parse(line) as { level?: number; msg?: string };
        if ((rec.level ?? 0) >= 50 && rec.msg !== undefined) return `${h.name}: ${rec.msg}`;
      } catch { /* not JSON */ }
    }
  }
  return 'no error logged';
}

type PhaseResult = 'ok' | 'pings-failed' | 'skipped';

/** FLANNEL_MTU a backend gives on the testbed's 1500-byte underlay. */
const MTU_OF: Readonly<Record<string, number>> = { vxlan: 1450, 'host-gw': 1500 };

async function playBackend(tb: Testbed, backend: string, extraArgs: readonly string[], optional: boolean):
Promise<PhaseResult> {
  const config = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: backend } };
  banner(`backend ${backend}`);
  console.log(`etcdctl put ${PREFIX}/config '${JSON.stringify(config)}'`);
  const running = tb.hosts.every((h) => h.daemon !== null && h.daemon.exitCode === null);
  await tb.putConfig(config);
  if (running) {
    // The seed's switch: the config changes under running daemons, which follow it without a restart.
    const started = Date.now();
    const mtu = MTU_OF[backend];
    try {
      await poll(`every host on ${backend}`, () => tb.hosts.every((h) => {
        const env = readSubnetEnv(h.subnetFile);
        return env !== null && (mtu === undefined || env.mtu === mtu);
      }), 20_000, 100);
    } catch (e) {
      if (!optional) throw e;
      console.log(`${backend} did not take over in this build (${lastDaemonError(tb)}); going on without it`);
      return 'skipped';
    }
    console.log(`every daemon followed the change in ${((Date.now() - started) / 1000).toFixed(1)} s, no restart`);
  } else {
    try {
      await startAll(tb, extraArgs);
    } catch (e) {
      if (!optional) throw e;
      console.log(`${backend} did not start in this build (${lastDaemonError(tb)}); going on without it`);
      await stopAll(tb).catch(() => undefined);
      return 'skipped';
    }
  }
  for (const h of tb.hosts) if (h.containers.length === 0) await tb.addContainer(h, 'c1');
  await showHosts(tb);
  return (await pingMatrix(tb)) ? 'ok' : 'pings-failed';
}

async function waitForCtrlC(tb: Testbed): Promise<void> {
  const h1: Host = tb.host(1);
  const c2 = tb.host(2).containers[0];
  console.log(`\n${bold('--keep')}: the testbed stays up until Ctrl-C. Try:`);
  console.log(`  ip netns exec ${h1.containers[0]?.netns} ping ${c2?.ip}`);
  console.log(`  ip netns exec ${h1.netns} ip route`);
  console.log(`  ip netns exec ${h1.netns} etcdctl --endpoints ${tb.etcdEndpoint} get --prefix ${PREFIX}`);
  console.log(`  less ${h1.logFile}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  // A second Ctrl-C must not cut the cleanup short (the default action would kill us on the spot).
  process.on('SIGINT', () => console.log('still cleaning up…'));
}

async function main(): Promise<number> {
  const program = new Command('npm run demo --')
    .description('tsflanneld on N hosts in network namespaces, one container per host, pinging each other')
    .option('--backend <type>', 'backend type for the network config (default: vxlan then host-gw when the daemon has vxlan, else host-gw)')
    .option('--hosts <n>', 'number of hosts', parseHosts, 3)
    .option('--keep', 'stay up until Ctrl-C', false)
    .option('--vxlan-first', 'show vxlan before host-gw even if vxlan support is not detected')
    .option('--vxlan-datapath <kind>', 'passed to every daemon: userspace or kernel')
    .parse(process.argv);
  const opts = program.opts<DemoOptions>();
  const backends = opts.backend !== undefined ? [opts.backend]
    : opts.vxlanFirst === true || daemonKnowsVxlan() ? ['vxlan', 'host-gw'] : ['host-gw'];

  // Ctrl-C during the run: the testbed's own exit hook removes everything; say so first.
  process.prependOnceListener('SIGINT', () => console.log('\ninterrupted: removing the testbed'));
  banner(`testbed: ${opts.hosts} hosts, etcd on h1`);
  const tb = await Testbed.create({ hosts: opts.hosts, prefix: PREFIX });
  let allOk = true;
  try {
    console.log(`run tag ${tb.tag}; namespaces ${tb.tag}-sw (underlay bridge), ${tb.hosts.map((h) => h.netns).join(', ')}`);
    console.log(`etcd ${tb.etcdEndpoint} (inside ${tb.host(1).netns})`);
    const extraArgs = opts.vxlanDatapath !== undefined ? ['--vxlan-datapath', opts.vxlanDatapath] : [];
    for (const [i, backend] of backends.entries()) {
      // In the vxlan-then-host-gw tour, vxlan is shown when this build can run it and skipped otherwise.
      const optional = opts.backend === undefined && i < backends.length - 1;
      const result = await playBackend(tb, backend, extraArgs, optional);
      if (result === 'pings-failed') {
        allOk = false;
        console.log(`\nsome pings failed with ${backend}; daemon logs:\n${tb.allLogs()}`);
      }
    }
    if (opts.keep) {
      process.removeAllListeners('SIGINT');
      await waitForCtrlC(tb);
    }
  } catch (e) {
    console.error(`\ndemo failed: ${(e as Error).message}\n${tb.allLogs()}`);
    allOk = false;
  } finally {
    banner('cleaning up');
    await stopAll(tb).catch(() => undefined);
    await tb.destroy();
    console.log(`removed every namespace, process and file of run ${tb.tag}`);
  }
  return allOk ? 0 : 1;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
