// Reliability 8 (issue 7): what an operator gets wrong, and what they see. Each mistake gets one precise line (no
// stack trace) and an outcome that does not make things worse: a second daemon on the same subnet file refuses to
// start; two daemons with one public IP keep running and each says so; a wrong --iface exits 1 naming the
// interface; an etcd that is not there yet is waited for, said once, and used as soon as it answers.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdctl, startEtcd, type EtcdMember } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { Lab, labUnavailable } from '../support/daemon-lab.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';
const skip = labUnavailable();

/** Records at warn level or above. */
const complaints = (output: string): Array<Record<string, unknown>> => logRecords(output).filter((r) => Number(r.level) >= 40
  && !String(r.msg).startsWith('connecting to etcd with http'));

describe('operator mistakes', { skip: skip ?? false, timeout: 150_000 }, () => {
  let lab: Lab;
  let lateEtcd: EtcdMember | null = null;

  before(async () => {
    lab = await Lab.create(4);
    await lab.etcdctl(['put', '/coreos.com/network/config', CONFIG]);
  });

  after(async () => {
    await lateEtcd?.destroy().catch(() => undefined);
    await lab?.destroy();
  });

  it('refuses a second daemon on the same subnet file, and the first keeps its file', async () => {
    const first = lab.startDaemon({ name: 'sf1', ip: lab.ips[0] as string });
    const env = await lab.subnetEnvOf(first);
    const second = lab.startDaemon({ name: 'sf2', ip: lab.ips[1] as string, subnetFile: first.subnetFile });
    assert.equal(await second.exited, 1);
    const fatal = complaints(second.output);
    assert.equal(fatal.length, 1, second.output);
    assert.match(String(fatal[0]?.msg), new RegExp(`^--subnet-file ${first.subnetFile} is in use by another tsflanneld \\(pid ${first.child.pid}, `));
    assert.match(String(fatal[0]?.msg), /give each daemon its own --subnet-file/);
    assert.deepEqual(stackTraces(second.output), []);
    assert.equal((await lab.kvs('/coreos.com/network/subnets/')).size, 1, 'the refused daemon took a lease');
    assert.equal(await lab.subnetEnvOf(first), env);
    // A crashed holder does not block the next start.
    first.child.kill('SIGKILL');
    await first.exited;
    const again = lab.startDaemon({ name: 'sf3', ip: lab.ips[0] as string, subnetFile: first.subnetFile });
    await waitFor(() => again.output.includes('wrote subnet file'), { what: 'a start after the crash', timeoutMs: 30_000 });
    assert.equal(await lab.subnetEnvOf(again), env);
    assert.equal(await lab.terminate(again), 0);
  });

  it('tells both daemons that share one public IP, and keeps both running', async () => {
    const ip = lab.ips[2] as string;
    // A short TTL makes both renew every few seconds, which is when each sees the other's writes.
    const opts = { ip, extra: ['--subnet-lease-ttl', '6'] };
    const a = lab.startDaemon({ name: 'ip1', ...opts });
    const envA = await lab.subnetEnvOf(a);
    const b = lab.startDaemon({ name: 'ip2', ...opts });
    const envB = await lab.subnetEnvOf(b);
    assert.equal(envB, envA, 'one public IP, one lease: upstream\'s behaviour, which is why it must be said');
    const twin = (o: string): Array<Record<string, unknown>> => complaints(o).filter((r) => String(r.msg).includes('same PublicIP'));
    await waitFor(() => twin(a.output).length > 0 && twin(b.output).length > 0,
      { what: 'both daemons to report the shared public IP', timeoutMs: 40_000, intervalMs: 200 })
      .catch((e: Error) => { throw new Error(`${e.message}\n${a.output}\n${b.output}`); });
    await sleep(8000);
    for (const d of [a, b]) {
      const lines = twin(d.output);
      assert.equal(lines.length, 1, `${d.name} repeated the warning:\n${d.output}`);
      assert.match(String(lines[0]?.msg), new RegExp(`^another daemon with the same PublicIP ${ip.replace(/\./g, '\\.')} renews our lease for 10\\.0\\.\\d+\\.0/24: `));
      assert.equal(d.child.exitCode, null, `${d.name} exited`);
      assert.deepEqual(stackTraces(d.output), []);
    }
    await Promise.all([lab.terminate(a), lab.terminate(b)]);
  });

  it('exits 1 with one line naming a wrong --iface', async () => {
    const d = lab.startDaemon({ name: 'if', ip: lab.ips[3] as string, ifaceArgs: ['--iface', 'nosuch0'] });
    assert.equal(await d.exited, 1);
    const lines = complaints(d.output);
    assert.equal(lines.length, 1, d.output);
    assert.match(String(lines[0]?.msg), /^cannot choose the external interface: no usable interface: --iface=nosuch0: no interface has this name; interfaces seen: /);
    assert.deepEqual(stackTraces(d.output), []);
  });

  it('waits for an etcd that is not there yet, says so once, and starts when it answers', async () => {
    const port = 20000 + crypto.randomInt(20000);
    const endpoint = `http://127.0.0.1:${port}`;
    const d = lab.startDaemon({ name: 'late', ip: lab.ips[3] as string, endpoints: endpoint });
    await sleep(8000);
    assert.equal(d.child.exitCode, null, `gave up on etcd:\n${d.output}`);
    const lines = complaints(d.output);
    assert.equal(lines.length, 1, `said more than once:\n${d.output}`);
    assert.match(String(lines[0]?.msg), new RegExp(`etcd unreachable.*; retrying every 1 s$`));
    assert.deepEqual(stackTraces(d.output), []);
    lateEtcd = await startEtcd({ netns: lab.ns, clientPort: port });
    await etcdctl(endpoint, ['put', '/coreos.com/network/config', CONFIG], { netns: lab.ns });
    const env = await lab.subnetEnvOf(d, 30_000);
    assert.match(env, /^FLANNEL_SUBNET=10\.0\.\d+\.1\/24$/m);
    assert.equal(await lab.terminate(d), 0);
  });
});
