// Reliability 4 (issue 7): many daemons claiming subnets at the same moment. 24 get 24 distinct subnets (the etcd
// create is a compare-and-swap; losers of a race pick again). With fewer subnets than claimants, the losers say
// "no free subnet in <Network> (<min>–<max>)" once, without a stack trace, keep waiting quietly and take a subnet as
// soon as one frees up.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/proc.js';
import { Lab, labUnavailable, type LabDaemon } from '../support/daemon-lab.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CLAIMANTS = 24;
const skip = labUnavailable();

function subnetOf(env: string): string {
  const m = /^FLANNEL_SUBNET=(\S+)$/m.exec(env);
  assert.ok(m, `FLANNEL_SUBNET in ${JSON.stringify(env)}`);
  return m[1] as string;
}

describe('many daemons starting at once', { skip: skip ?? false, timeout: 170_000 }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.create(CLAIMANTS);
  });

  after(async () => {
    await lab?.destroy();
  });

  it(`gives ${CLAIMANTS} simultaneous claimants ${CLAIMANTS} distinct subnets`, async () => {
    const prefix = '/many/network';
    await lab.etcdctl(['put', `${prefix}/config`, '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}']);
    const ds = lab.ips.map((ip, i) => lab.startDaemon({ name: `m${i}`, ip, prefix }));
    const envs = await Promise.all(ds.map((d) => lab.subnetEnvOf(d, 90_000)));
    const subnets = envs.map(subnetOf);
    assert.equal(new Set(subnets).size, CLAIMANTS, `subnets handed out: ${subnets.join(' ')}`);
    const leases = await lab.kvs(`${prefix}/subnets/`);
    assert.equal(leases.size, CLAIMANTS);
    const publicIPs = [...leases.values()].map((v) => (JSON.parse(v) as { PublicIP: string }).PublicIP);
    assert.deepEqual(publicIPs.sort(), [...lab.ips].sort());
    for (const d of ds) {
      assert.deepEqual(stackTraces(d.output), [], `${d.name} logged a stack trace`);
      assert.equal(d.child.exitCode, null, `${d.name} exited`);
    }
    const races = ds.reduce((n, d) => n + (d.output.match(/another host took this subnet first/g)?.length ?? 0), 0);
    console.log(`# ${CLAIMANTS} daemons, ${CLAIMANTS} distinct subnets, ${races} lost create races retried`);
    await Promise.all(ds.map((d) => lab.terminate(d)));
  });

  it('tells the losers of a too-small pool once, clearly, and gives them a subnet when one frees up', async () => {
    const prefix = '/small/network';
    // /26 cut into /28s, the first one skipped: three subnets, 10.1.0.16–10.1.0.48.
    await lab.etcdctl(['put', `${prefix}/config`, '{"Network":"10.1.0.0/26","SubnetLen":28,"Backend":{"Type":"alloc"}}']);
    const ds = lab.ips.slice(0, 5).map((ip, i) => lab.startDaemon({ name: `s${i}`, ip, prefix }));
    const exhausted = 'no free subnet in 10.1.0.0/26 (10.1.0.16–10.1.0.48)';
    const isLoser = (d: LabDaemon): boolean => d.output.includes(exhausted);
    const winners = await waitFor(() => {
      const w = ds.filter((d) => d.output.includes('wrote subnet file'));
      return w.length === 3 && ds.filter(isLoser).length === 2 ? w : null;
    }, { what: '3 winners and 2 losers', timeoutMs: 60_000, intervalMs: 200 });
    const losers = ds.filter((d) => !winners.includes(d));
    // Several retry periods pass: still one line each, no stack, still running.
    await sleep(6000);
    for (const d of losers) {
      const lines = logRecords(d.output).filter((r) => String(r.msg).includes('no free subnet'));
      assert.equal(lines.length, 1, `${d.name} logged the full pool ${lines.length} times:\n${d.output}`);
      assert.match(String(lines[0]?.msg), /^no free subnet in 10\.1\.0\.0\/26 \(10\.1\.0\.16–10\.1\.0\.48\): all 3 \/28 subnets are leased/);
      assert.deepEqual(stackTraces(d.output), []);
      assert.equal(d.child.exitCode, null, `${d.name} gave up`);
    }
    // A winner leaves and its key is removed (as its TTL running out would): one loser takes the subnet.
    const leaving = winners[0] as LabDaemon;
    const freed = subnetOf(await lab.subnetEnvOf(leaving));
    assert.equal(await lab.terminate(leaving), 0);
    const [addr, len] = freed.split('/') as [string, string];
    const octets = addr.split('.').map(Number);
    octets[3] = (octets[3] as number) - 1;
    const key = `${prefix}/subnets/${octets.join('.')}-${len}`;
    await lab.etcdctl(['del', key]);
    const taker = await waitFor(() => losers.find((d) => d.output.includes('wrote subnet file')),
      { what: 'a waiting daemon to take the freed subnet', timeoutMs: 30_000, intervalMs: 100 })
      .catch((e: Error) => { throw new Error(`${e.message}\n${losers.map((d) => d.output).join('\n')}`); });
    assert.equal(subnetOf(await lab.subnetEnvOf(taker)), freed);
    assert.match(taker.output, /a subnet became free/);
    await Promise.all(ds.map((d) => lab.terminate(d)));
  });
});
