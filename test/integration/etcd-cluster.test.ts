// A three-member etcd cluster: with any one member stopped (in turn, so whichever member the client's calls and
// watch stream use is hit once), a short-TTL lease keeps being renewed and the watch keeps delivering.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { etcdctl, startEtcdCluster, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { recordingLogger, testConfig, uniquePrefix } from '../support/subnet-fixtures.js';
import { createEtcdClient, isEtcdUnavailable } from '../../src/subnet/etcd-client.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseManager } from '../../src/subnet/lease-manager.js';
import { LeaseWatcher } from '../../src/subnet/watcher.js';
import { formatCidr } from '../../src/net/ipv4.js';
import type { Lease, LeaseEvent } from '../../src/subnet/lease.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

describe('three-member etcd cluster', { skip }, () => {
  let members: EtcdMember[] = [];
  let client: Etcd3;
  const rec = recordingLogger();
  let mgr: LeaseManager | null = null;
  let watcher: LeaseWatcher | null = null;

  before(async () => {
    members = await startEtcdCluster(3);
    client = createEtcdClient({ endpoints: members.map((m) => m.clientUrl), callTimeoutMs: 2000 }, rec.log);
  });
  after(async () => {
    await mgr?.stop();
    await watcher?.stop();
    client?.close();
    await stopAllEtcd();
  });

  it('renews the lease and keeps the watch with one member stopped', async () => {
    const prefix = uniquePrefix();
    const registry = new SubnetRegistry(client, prefix, rec.log);
    mgr = new LeaseManager({
      registry, config: testConfig('10.30.0.0/16', 24), attrs: { publicIP: '192.0.2.1', publicIPv6: null, backendType: 'alloc' },
      previousSubnet: null, ttlSeconds: 4, renewMarginMinutes: 60, log: rec.log,
    });
    const own = await mgr.acquire();
    mgr.keep();
    let renewals = 0;
    mgr.on('renewed', () => { renewals++; });
    const lost: Lease[] = [];
    mgr.on('lost', (l: Lease) => lost.push(l));
    const events: LeaseEvent[] = [];
    watcher = new LeaseWatcher({ registry, ownSubnet: () => own.subnet, log: rec.log });
    let snapshot = false;
    watcher.start({ reset: () => { snapshot = true; }, events: (e) => { events.push(...e); } });
    await waitFor(() => snapshot, { what: 'the snapshot' });

    for (const [i, down] of members.entries()) {
      await down.stop();
      const live = members.find((m) => m !== down)!;
      const renewedBefore = renewals;
      await waitFor(() => renewals >= renewedBefore + 2, { what: `two renewals with ${down.name} stopped`, timeoutMs: 20_000 });
      const key = `${prefix}/subnets/10.30.${200 + i}.0-24`;
      await etcdctl(live.clientUrl, ['put', key, '{"PublicIP":"198.51.100.9","PublicIPv6":null}']);
      await waitFor(() => events.some((e) => formatCidr(e.lease.subnet) === `10.30.${200 + i}.0/24`),
        { what: `the watch event with ${down.name} stopped`, timeoutMs: 20_000 });
      await down.restart();
    }
    assert.deepEqual(lost, [], 'the lease was never lost');
    assert.equal(mgr.lease?.subnet && formatCidr(mgr.lease.subnet), formatCidr(own.subnet));
  });

  it('reports an unreachable cluster as such', async () => {
    const one = createEtcdClient({ endpoints: ['http://127.0.0.1:9'], callTimeoutMs: 500 }, rec.log);
    try {
      await assert.rejects(one.get('x').string(), (err: unknown) => isEtcdUnavailable(err));
      // Again, now that the circuit breaker may have opened.
      for (let i = 0; i < 4; i++) await assert.rejects(one.get('x').string(), (err: unknown) => isEtcdUnavailable(err));
    } finally {
      one.close();
    }
  });
});
