// Side by side in one run: TCP throughput (iperf3) and RTT (ping) between two containers over the udp backend,
// first on two real upstream flanneld v0.28.9 nodes, then on two tsflanneld nodes, on one testbed and one etcd.
// Prints both and the ratio. A stand-alone measurement for the udp backend's issue until the benchmark has its
// `udp` and `udp-upstream` rows (notes/w-udp.md says what those need).
//   node dist/bench/udp-side-by-side.js [seconds]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnTracked } from '../test/harness/proc.js';
import { Testbed, UNDERLAY_IFACE, type Container, type Host } from '../test/harness/testbed.js';
import { execCommand, inNetns, mustExec } from '../test/harness/netns.js';
import { parseIperfJson } from './iperf.js';

const V0289 = process.env.TSFL_FLANNELD_V0289 ?? path.join(os.homedir(), '.cache', 'tsflanneld-upstream', 'flanneld-v0.28.9');
const UP_PREFIX = '/udp-upstream/network';
const TS_PREFIX = '/udp-ts/network';

function startUpstream(tb: Testbed, host: Host): void {
  const out = fs.openSync(host.logFile, 'a');
  host.daemon = spawnTracked('ip', ['netns', 'exec', host.netns, V0289, `-etcd-endpoints=${tb.etcdEndpoint}`,
    `-etcd-prefix=${UP_PREFIX}`, `-iface=${UNDERLAY_IFACE}`, `-public-ip=${host.ip}`, `-subnet-file=${host.subnetFile}`],
  { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  host.daemonStartedAt = Date.now();
}

async function measure(tb: Testbed, client: Container, server: Container, seconds: number): Promise<{ gbps: number; rttMs: number }> {
  await tb.waitForPing(client, server.ip, 45_000);
  const srv = spawn('ip', ['netns', 'exec', server.netns, 'iperf3', '-s', '-1', '-B', server.ip], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = await execCommand(inNetns(client.netns, ['iperf3', '-c', server.ip, '-t', String(seconds), '-O', '1',
      '--connect-timeout', '3000', '--json']), { timeoutMs: (seconds + 20) * 1000 });
    const run = parseIperfJson(r.stdout);
    if (run.protocol !== 'tcp') throw new Error('expected a TCP run');
    const ping = await mustExec(inNetns(client.netns, ['ping', '-n', '-q', '-c', '50', '-i', '0.02', server.ip]));
    const m = /= [\d.]+\/([\d.]+)\//.exec(ping);
    return { gbps: run.receiverBps / 1e9, rttMs: m ? Number(m[1]) : NaN };
  } finally {
    if (srv.exitCode === null && srv.pid !== undefined) process.kill(srv.pid, 'SIGTERM');
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const tb = await Testbed.create({ hosts: 4, prefix: TS_PREFIX });
  try {
    for (const prefix of [UP_PREFIX, TS_PREFIX]) {
      await tb.putConfig({ Network: prefix === UP_PREFIX ? '10.11.0.0/16' : '10.12.0.0/16', Backend: { Type: 'udp' } }, prefix);
    }
    const [h1, h2, h3, h4] = [tb.host(1), tb.host(2), tb.host(3), tb.host(4)];
    startUpstream(tb, h1);
    startUpstream(tb, h2);
    for (const h of [h1, h2]) await tb.waitForSubnetEnv(h, 45_000);
    const up = await measure(tb, await tb.addContainer(h1, 'c1'), await tb.addContainer(h2, 'c1'), seconds);
    await tb.killDaemon(h1);
    await tb.killDaemon(h2);
    tb.startDaemon(h3);
    tb.startDaemon(h4);
    for (const h of [h3, h4]) await tb.waitForSubnetEnv(h, 45_000);
    const ts = await measure(tb, await tb.addContainer(h3, 'c1'), await tb.addContainer(h4, 'c1'), seconds);
    const line = (name: string, r: { gbps: number; rttMs: number }): string =>
      `${name.padEnd(22)} ${r.gbps.toFixed(3)} Gbit/s   ping RTT ${r.rttMs.toFixed(3)} ms`;
    process.stdout.write(`${line('udp-upstream v0.28.9', up)}\n${line('udp tsflanneld', ts)}\n`
      + `ratio tsflanneld/upstream: ${(ts.gbps / up.gbps).toFixed(2)}x throughput, RTT ${(ts.rttMs / up.rttMs).toFixed(2)}x\n`);
  } finally {
    await tb.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
