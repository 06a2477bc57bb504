// Issue 20 item 4: the health port must not exhaust the daemon's file descriptors. With a tight limit (256), 3000
// connections that send half a request and then nothing are held open against it; /healthz must still answer, the
// daemon must stay up and stay below its limit (the datapath, etcd and the iptables tools need descriptors too).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killPids } from '../support/netns.js';
import { spawnTracked, waitFor } from '../support/proc.js';
import { Lab, labUnavailable } from '../support/daemon-lab.js';
import { fdCount, stackTraces } from '../support/proc-stats.js';

const CONFIG = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';
const FD_LIMIT = 256;
const FLOOD = 3000;
const SLOW_CLIENTS_JS = path.join(__dirname, '..', 'support', 'agents', 'slow-clients.js');
const skip = labUnavailable();

interface FloodResult {
  opened: number;
  failed: number;
  healthz: { status?: number; body?: string; error?: string };
}

describe('health port under a connection flood', { skip: skip ?? false, timeout: 120_000 }, () => {
  let lab: Lab;
  let flood: ChildProcess | null = null;

  before(async () => {
    lab = await Lab.create(1);
    await lab.etcdctl(['put', '/coreos.com/network/config', CONFIG]);
  });

  after(async () => {
    if (flood?.pid !== undefined) await killPids([flood.pid]);
    await lab?.destroy();
  });

  it(`answers /healthz while ${FLOOD} half-sent requests are held open (RLIMIT_NOFILE ${FD_LIMIT})`, async () => {
    const ip = lab.ips[0] as string;
    const port = 20000 + crypto.randomInt(20000);
    const d = lab.startDaemon({ name: 'hz', ip, launcher: ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`],
      extra: ['--healthz-ip', ip, '--healthz-port', String(port)] });
    await lab.subnetEnvOf(d);
    const pid = d.child.pid as number;

    flood = spawnTracked('ip', ['netns', 'exec', lab.ns, 'prlimit', `--nofile=${FLOOD * 2}:${FLOOD * 2}`,
      process.execPath, SLOW_CLIENTS_JS, ip, String(port), String(FLOOD)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    flood.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    const line = await waitFor(() => (out.includes('\n') ? out.split('\n')[0] as string : null),
      { what: 'the flood client to report', timeoutMs: 60_000, intervalMs: 200 });
    const result = JSON.parse(line) as FloodResult;
    console.log(`# flood: ${JSON.stringify(result)}; daemon fds ${fdCount(pid)}`);

    assert.ok(result.opened >= FLOOD / 2, `the flood did not get going: ${line}`);
    assert.equal(result.healthz.status, 200, `/healthz with ${result.opened} connections open: ${line}\n${d.output.slice(-2000)}`);
    assert.equal(result.healthz.body, 'flanneld is running');
    assert.equal(d.child.exitCode, null, `the daemon exited:\n${d.output}`);
    assert.ok(fdCount(pid) < FD_LIMIT / 2, `the daemon holds ${fdCount(pid)} of ${FD_LIMIT} descriptors`);
    assert.deepEqual(stackTraces(d.output), []);
    flood.stdin?.end();
    assert.equal(await lab.terminate(d), 0);
  });
});
