// Issue 2, "done when": two hosts on the alloc backend under /usr/local/bin/network each get a distinct
// 10.0.X.1/24 in subnet.env and a lease in etcd with upstream's key format and JSON.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { Testbed, type Host } from '../support/testbed.js';

const PREFIX = '/usr/local/bin/network';
const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'alloc' } };
const skip = testbedUnavailable();

describe('alloc backend on two hosts (issue 2 done-when)', { skip: skip ?? false, timeout: 90_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) tb.startDaemon(h);
  });

  after(async () => {
    await tb?.destroy();
  });


  it('writes a distinct 10.0.X.1/24 subnet.env on each host, in upstream\'s exact format', () => tb.explainFailure(async () => {
    const envs = [];
    for (const h of tb.hosts) envs.push(await tb.waitForSubnetEnv(h));
    const subnets = envs.map((e) => e.subnet);
    for (const [i, env] of envs.entries()) {
      assert.match(env.subnet, /^10\.0\.(\d{1,3})\.1\/24$/);
      // Upstream skips the first subnet (SubnetMin = Network + one subnet).
      assert.notEqual(env.subnet, '10.0.0.1/24');
      assert.equal(env.raw, `FLANNEL_NETWORK=10.0.0.0/16\nFLANNEL_SUBNET=${subnets[i]}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`);
    }
    assert.notEqual(subnets[0], subnets[1]);
  }));

  it('publishes each host\'s lease under <prefix>/subnets with upstream\'s key and JSON and a 24 h etcd lease', () =>
    tb.explainFailure(async () => {
      const leases = await tb.leases();
      assert.equal(leases.size, 2, `leases: ${JSON.stringify([...leases])}`);
      for (const h of tb.hosts) await assertLeaseOf(h, leases);
    }));

  async function assertLeaseOf(h: Host, leases: Map<string, string>): Promise<void> {
    const env = await tb.waitForSubnetEnv(h);
    const third = /^10\.0\.(\d+)\.1\/24$/.exec(env.subnet)?.[1];
    const key = `${PREFIX}/subnets/10.0.${third}.0-24`;
    const value = leases.get(key);
    assert.ok(value !== undefined, `no key ${key} in ${JSON.stringify([...leases.keys()])}`);
    // Field order and null PublicIPv6 as Go's encoding/json writes LeaseAttrs; alloc sets no BackendData.
    assert.match(value, new RegExp(`^\\{"PublicIP":"${h.ip.replace(/\./g, '\\.')}","PublicIPv6":null(,"BackendType":"alloc")?\\}$`));
    // Lease ids are int64: read them as text, JSON.parse would round them.
    const leaseId = /"lease":(\d+)/.exec(await tb.etcdctl(['get', key, '-w', 'json']))?.[1];
    assert.ok(leaseId !== undefined && BigInt(leaseId) !== 0n, `${key} is not attached to an etcd lease`);
    const ttl = await tb.etcdctl(['lease', 'timetolive', BigInt(leaseId).toString(16)]);
    const granted = Number(/granted with TTL\((\d+)s\)/.exec(ttl)?.[1]);
    assert.equal(granted, 86400, ttl);
  }

  it('keeps the subnet across a restart without subnet.env (SIGTERM exits 0, lease left in place)', () =>
    tb.explainFailure(async () => {
      const h = tb.host(1);
      const before = (await tb.waitForSubnetEnv(h)).subnet;
      assert.equal(await tb.stopDaemon(h), 0);
      assert.equal((await tb.leases()).size, 2);
      // Without the file the daemon can only find its subnet again through its lease (by PublicIP).
      fs.rmSync(h.subnetFile);
      tb.startDaemon(h);
      assert.equal((await tb.waitForSubnetEnv(h)).subnet, before);
      assert.equal((await tb.leases()).size, 2);
    }));
});
