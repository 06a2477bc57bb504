// Reliability 5 (issue 7): garbage in etcd. Values that are not lease JSON, keys that are not subnet keys, leases
// that overlap the whole network or lie outside it, and the network config deleted or replaced by an invalid one
// while the daemons run: each is logged once and skipped; the daemons keep their routes, subnet.env and lease, and
// still program a good lease written afterwards.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable();

describe('bad etcd contents while daemons run (host-gw)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) tb.startDaemon(h);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    c1 = await tb.addContainer(tb.host(1), 'c1');
    c2 = await tb.addContainer(tb.host(2), 'c1');
    await tb.waitForPing(c1, c2.ip);
  });

  after(async () => {
    await tb?.destroy();
  });



  it('skips bad leases and bad config, keeps its state and still serves good events', () => tb.explainFailure(async () => {
    const sub = `${tb.prefix}/subnets`;
    const [h1, h2] = tb.hosts as [Host, Host];
    const envBefore = tb.hosts.map((h) => fs.readFileSync(h.subnetFile, 'utf8'));
    const leasesBefore = await tb.leases();
    const routesBefore = await tb.routes(h1);
    const bad: Array<[string, string]> = [
      [`${sub}/10.0.201.0-24`, 'this is not json'],
      [`${sub}/10.0.202.0-24`, '{"PublicIP":"999.1.2.3","BackendType":"host-gw"}'],
      [`${sub}/10.0.203.0-24`, '[1,2,3]'],
      [`${sub}/not-a-subnet`, '{"PublicIP":"192.0.2.77","BackendType":"host-gw"}'],
      [`${sub}/10.0.204.7-24`, '{"PublicIP":"192.0.2.78","BackendType":"host-gw"}'],
      // Leases that cover the whole network, everything, or lie outside the network.
      [`${sub}/10.0.0.0-16`, '{"PublicIP":"192.0.2.79","PublicIPv6":null,"BackendType":"host-gw"}'],
      [`${sub}/0.0.0.0-0`, '{"PublicIP":"192.0.2.80","PublicIPv6":null,"BackendType":"host-gw"}'],
      [`${sub}/10.9.0.0-24`, '{"PublicIP":"192.0.2.81","PublicIPv6":null,"BackendType":"host-gw"}'],
    ];
    for (const [k, v] of bad) await tb.etcdctl(['put', k, v]);
    await tb.etcdctl(['del', `${tb.prefix}/config`]);
    await tb.etcdctl(['put', `${tb.prefix}/config`, '{"Network":"not a network"}']);
    // A good lease written after all that must still be programmed.
    const good = `${sub}/10.0.210.0-24`;
    await tb.etcdctl(['put', good, '{"PublicIP":"192.0.2.90","PublicIPv6":null,"BackendType":"host-gw"}']);
    for (const h of tb.hosts) {
      await poll(`${h.name} routes the good lease`, async () => (await tb.routes(h)).some((r) => r.startsWith('10.0.210.0/24 via 192.0.2.90')));
    }
    // Past a periodic resync, so a bad lease would have been programmed by now.
    await sleep(3000);
    for (const h of tb.hosts) {
      assert.equal(h.daemon?.exitCode, null, `${h.name}'s daemon exited`);
      const routes = await tb.routes(h);
      for (const r of routes) {
        assert.doesNotMatch(r, /^(default|0\.0\.0\.0\/0|10\.0\.0\.0\/16|10\.9\.0\.0\/24|10\.0\.20[1-4]\.0\/24) via 192\.0\.2\.(7|8)\d/,
          `${h.name} programmed a bad lease: ${r}`);
      }
      assert.deepEqual(stackTraces(tb.daemonLog(h)), [], `${h.name} logged a stack trace`);
      // Each bad key is named once at most per daemon.
      const records = logRecords(tb.daemonLog(h));
      for (const [k] of bad) {
        const n = records.filter((r) => r.key === k).length;
        assert.ok(n <= 1, `${h.name} logged ${k} ${n} times`);
      }
    }
    assert.deepEqual(tb.hosts.map((h) => fs.readFileSync(h.subnetFile, 'utf8')), envBefore, 'subnet.env changed');
    const leasesAfter = await tb.leases();
    for (const [k, v] of leasesBefore) assert.equal(leasesAfter.get(k), v, `own lease ${k} lost`);
    for (const r of routesBefore.filter((x) => x.includes(h2.ip))) assert.ok((await tb.routes(h1)).includes(r), `route gone: ${r}`);
    await tb.waitForPing(c1, c2.ip, 5000);
    await tb.waitForPing(c2, c1.ip, 5000);
    await tb.etcdctl(['del', good]);
    for (const h of tb.hosts) {
      await poll(`${h.name} drops the good lease's route`, async () => !(await tb.routes(h)).some((r) => r.startsWith('10.0.210.0/24')));
    }
  }));

  it('refuses an invalid config at start with one line, and starts once it is fixed', () => tb.explainFailure(async () => {
    const h2 = tb.host(2);
    const env = fs.readFileSync(h2.subnetFile, 'utf8');
    await tb.stopDaemon(h2);
    tb.startDaemon(h2);
    await poll('h2 to complain about the config', () => tb.daemonLog(h2).includes('not a network'), 20_000);
    await sleep(3000);
    assert.equal(h2.daemon?.exitCode, null, 'h2 gave up instead of waiting for a valid config');
    const complaints = logRecords(tb.daemonLog(h2).split('--- start').pop() ?? '').filter((r) => String(r.msg).includes('not a network'));
    assert.equal(complaints.length, 1, 'the invalid config was reported more than once');
    await tb.putConfig(CONFIG);
    await tb.waitForSubnetEnv(h2);
    assert.equal(fs.readFileSync(h2.subnetFile, 'utf8'), env, 'a restart among bad keys changed the subnet');
    await tb.waitForPing(c1, c2.ip);
  }));
});
