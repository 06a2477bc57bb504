// Side by side in one run: TCP throughput (iperf3) and RTT (ping) between two containers over the udp backend, on
// two real upstream flanneld v0.28.9 nodes and on two tsflanneld nodes, one testbed and one etcd, measurements
// alternating. Prints medians and the ratios. A stand-alone measurement for the udp backend's issue until the benchmark has its
// `udp` and `udp-upstream` rows (notes/w-udp.md says what those need).
//   node dist/bench/udp-side-by-side.js [seconds per iperf3 run] [repetitions]
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

/** Average RTT (ms) of 200 pings 10 ms apart. */
async function pingRtt(client: Container, server: Container): Promise<number> {
  const out = await mustExec(inNetns(client.netns, ['ping', '-n', '-q', '-c', '200', '-i', '0.01', server.ip]));
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  if (!m) throw new Error(`no ping summary: ${out}`);
  return Number(m[1]);
}

/** TCP Gbit/s of one iperf3 run. */
async function tcpGbps(client: Container, server: Container, seconds: number): Promise<number> {
  const srv = spawn('ip', ['netns', 'exec', server.netns, 'iperf3', '-s', '-1', '-B', server.ip], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = await execCommand(inNetns(client.netns, ['iperf3', '-c', server.ip, '-t', String(seconds), '-O', '1',
      '--connect-timeout', '3000', '--json']), { timeoutMs: (seconds + 20) * 1000 });
    const run = parseIperfJson(r.stdout);
    if (run.protocol !== 'tcp') throw new Error('expected a TCP run');
    return run.receiverBps / 1e9;
  } finally {
    if (srv.exitCode === null && srv.pid !== undefined) process.kill(srv.pid, 'SIGTERM');
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Both pairs run at once (idle between measurements); the measurements alternate, upstream then tsflanneld, `reps`
 * times, so that both see the same machine state. Extra tsflanneld flags: UDP_TS_ARGS (space-separated).
 */
async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const reps = Number(process.argv[3] ?? 3);
  const tb = await Testbed.create({ hosts: 4, prefix: TS_PREFIX });
  try {
    await tb.putConfig({ Network: '10.11.0.0/16', Backend: { Type: 'udp' } }, UP_PREFIX);
    await tb.putConfig({ Network: '10.12.0.0/16', Backend: { Type: 'udp' } }, TS_PREFIX);
    const [h1, h2, h3, h4] = [tb.host(1), tb.host(2), tb.host(3), tb.host(4)];
    startUpstream(tb, h1);
    startUpstream(tb, h2);
    const extra = (process.env.UDP_TS_ARGS ?? '').split(' ').filter((a) => a !== '');
    tb.startDaemon(h3, extra);
    tb.startDaemon(h4, extra);
    for (const h of [h1, h2, h3, h4]) await tb.waitForSubnetEnv(h, 45_000);
    const pairs = [
      { name: 'udp-upstream v0.28.9', client: await tb.addContainer(h1, 'c1'), server: await tb.addContainer(h2, 'c1'), gbps: [] as number[], rtt: [] as number[] },
      { name: 'udp tsflanneld', client: await tb.addContainer(h3, 'c1'), server: await tb.addContainer(h4, 'c1'), gbps: [] as number[], rtt: [] as number[] },
    ];
    for (const p of pairs) await tb.waitForPing(p.client, p.server.ip, 45_000);
    for (let i = 0; i < reps; i++) {
      for (const p of pairs) p.rtt.push(await pingRtt(p.client, p.server));
      for (const p of pairs) p.gbps.push(await tcpGbps(p.client, p.server, seconds));
    }
    for (const p of pairs) {
      process.stdout.write(`${p.name.padEnd(22)} TCP ${median(p.gbps).toFixed(3)} Gbit/s [${p.gbps.map((x) => x.toFixed(2)).join(' ')}]`
        + `   ping RTT ${median(p.rtt).toFixed(3)} ms [${p.rtt.map((x) => x.toFixed(3)).join(' ')}]\n`);
    }
    const [up, ts] = pairs as [typeof pairs[0], typeof pairs[0]];
    process.stdout.write(`ratio tsflanneld/upstream (medians): ${(median(ts.gbps) / median(up.gbps)).toFixed(2)}x TCP throughput, `
      + `${(median(ts.rtt) / median(up.rtt)).toFixed(2)}x RTT\n`);
  } finally {
    await tb.destroy();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
