// The lease watcher against a real etcd member: snapshot + events, an etcd restart, and a compaction while the
// watcher was cut off (through a loopback TCP proxy), which forces a re-list and a difference.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { etcdctl, startEtcd, stopAllEtcd, timeToLiveCalls, type EtcdMember } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { withProxiedClient } from '../support/tcp-proxy.js';
import { recordingLogger, uniquePrefix } from '../support/subnet-fixtures.js';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseWatcher } from '../../src/subnet/watcher.js';
import { formatCidr, parseCidr } from '../../src/net/ipv4.js';
import type { Lease, LeaseEvent } from '../../src/subnet/lease.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

const value = (ip: string, mac = 'aa:bb:cc:dd:ee:01'): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;

/** Collects what a watcher delivers, as `added 10.0.1.0/24 192.0.2.1` lines. */
function collector(): { resets: string[][]; events: string[]; handlers: { reset(p: Lease[]): void; events(e: LeaseEvent[]): void } } {
  const resets: string[][] = [];
  const events: string[] = [];
  const describeLease = (l: Lease): string => `${formatCidr(l.subnet)} ${l.attrs.publicIP} ${JSON.stringify(l.attrs.backendData ?? null)}`;
  return {
    resets, events,
    handlers: {
      reset: (peers) => { resets.push(peers.map(describeLease).sort()); },
      events: (evts) => { for (const e of evts) events.push(`${e.type} ${describeLease(e.lease)}`); },
    },
  };
}

describe('lease watcher (real etcd)', { skip }, () => {
  let etcd: EtcdMember;
  let client: Etcd3;
  const rec = recordingLogger();
  const watchers: LeaseWatcher[] = [];
  const own = parseCidr('10.20.1.0/24')!;

  before(async () => {
    etcd = await startEtcd();
    client = createEtcdClient({ endpoints: [etcd.clientUrl] }, rec.log);
  });
  after(async () => {
    await Promise.all(watchers.map((w) => w.stop()));
    client?.close();
    await stopAllEtcd();
  });

  function watcher(c: Etcd3, prefix: string): LeaseWatcher {
    const w = new LeaseWatcher({ registry: new SubnetRegistry(c, prefix, rec.log), ownSubnet: () => own, log: rec.log });
    watchers.push(w);
    return w;
  }

  it('hands over a snapshot without our own lease, then events with attributes on removal', async () => {
    const prefix = uniquePrefix();
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.1.0-24`, value('192.0.2.1')]);
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.2.0-24`, value('192.0.2.2')]);
    const c = collector();
    watcher(client, prefix).start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    assert.deepEqual(c.resets[0], ['10.20.2.0/24 192.0.2.2 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}']);
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.3.0-24`, value('192.0.2.3')]);
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.1.0-24`, value('192.0.2.1', 'aa:bb:cc:dd:ee:09')]);
    await etcdctl(etcd.clientUrl, ['del', `${prefix}/subnets/10.20.2.0-24`]);
    await waitFor(() => c.events.length >= 2, { what: 'two events' });
    assert.deepEqual(c.events, [
      'added 10.20.3.0/24 192.0.2.3 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
      'removed 10.20.2.0/24 192.0.2.2 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
    ]);
  });

  it('keeps delivering events after etcd restarts', async () => {
    const prefix = uniquePrefix();
    const c = collector();
    watcher(client, prefix).start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.4.0-24`, value('192.0.2.4')]);
    await waitFor(() => c.events.length === 1, { what: 'the event before the restart' });
    await etcd.restart();
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.5.0-24`, value('192.0.2.5')]);
    await waitFor(() => c.events.length === 2, { what: 'the event after the restart', timeoutMs: 20_000 });
    assert.equal(c.events[1], 'added 10.20.5.0/24 192.0.2.5 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}');
    assert.equal(c.resets.length, 1, 'resumed from its revision, no re-list');
  });

  it('re-lists after a compaction and emits the difference, changed attributes included', async () => {
    const prefix = uniquePrefix();
    const connect = (url: string): Etcd3 => createEtcdClient({ endpoints: [url], callTimeoutMs: 1000 }, rec.log);
    await withProxiedClient(etcd.clientUrl, connect, async (proxy, cut) => {
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.6.0-24`, value('192.0.2.6')]);
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.7.0-24`, value('192.0.2.7')]);
      const c = collector();
      watcher(cut, prefix).start(c.handlers);
      await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
      proxy.cut();
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.8.0-24`, value('192.0.2.8')]);
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.7.0-24`, value('192.0.2.7', 'aa:bb:cc:dd:ee:77')]);
      await etcdctl(etcd.clientUrl, ['del', `${prefix}/subnets/10.20.6.0-24`]);
      const status = JSON.parse(await etcdctl(etcd.clientUrl, ['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>;
      await etcdctl(etcd.clientUrl, ['compaction', String(status[0]!.Status.header.revision)]);
      proxy.resume();
      await waitFor(() => c.events.length >= 3, { what: 'the difference after the re-list', timeoutMs: 20_000 });
      assert.deepEqual([...c.events].sort(), [
        'added 10.20.7.0/24 192.0.2.7 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:77"}',
        'added 10.20.8.0/24 192.0.2.8 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
        'removed 10.20.6.0/24 192.0.2.6 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
      ]);
      assert.ok(rec.messages().includes('lease watch canceled by etcd; re-listing'));
      // And it watches again afterwards.
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.9.0-24`, value('192.0.2.9')]);
      await waitFor(() => c.events.length === 4, { what: 'an event after the re-list' });
    });
  });

  it('keeps its log bounded when 1 MB bad values are written again and again', async () => {
    const prefix = uniquePrefix();
    const c = collector();
    const log = recordingLogger();
    const w = new LeaseWatcher({ registry: new SubnetRegistry(client, prefix, log.log), ownSubnet: () => own, log: log.log });
    watchers.push(w);
    w.start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    const big = (n: number): string => `{"PublicIP":"${String(n).repeat(1_000_000 / String(n).length)}"}`;
    // A 1 MB garbage value, changed at every write, and a 500 kB key that is no subnet key.
    for (let i = 1; i <= 5; i++) await client.put(`${prefix}/subnets/10.20.30.0-24`).value(big(i));
    await client.put(`${prefix}/subnets/${'k'.repeat(500_000)}`).value('{}');
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.31.0-24`, value('192.0.2.31')]);
    await waitFor(() => c.events.length === 1, { what: 'the good lease after the bad ones' });
    const bytes = log.lines.reduce((n, l) => n + JSON.stringify(l).length, 0);
    assert.ok(bytes < 10_000, `the bad values cost ${bytes} bytes of log`);
    const named = log.lines.filter((l) => String(l.key).includes('10.20.30.0-24'));
    assert.equal(named.length, 1, 'the rewritten key is named once');
  });

  it('routes the subnet that stopped being ours, and removes a delivered lease that turns bad', async () => {
    const prefix = uniquePrefix();
    let mine = parseCidr('10.20.40.0/24')!;
    const w = new LeaseWatcher({ registry: new SubnetRegistry(client, prefix, rec.log), ownSubnet: () => mine,
      network: parseCidr('10.20.0.0/16')!, subnetLen: 24, ownPublicIP: '192.0.2.40', log: rec.log });
    watchers.push(w);
    const c = collector();
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.42.0-24`, value('192.0.2.42')]);
    w.start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    // Another writer takes our key; we move to 10.20.41.0/24 (written with our PublicIP).
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.40.0-24`, value('192.0.2.99')]);
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.41.0-24`, value('192.0.2.40')]);
    mine = parseCidr('10.20.41.0/24')!;
    w.ownSubnetChanged();
    await waitFor(() => c.events.length >= 1, { what: 'the taken subnet as a peer' });
    assert.deepEqual(c.events, ['added 10.20.40.0/24 192.0.2.99 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}']);
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.20.42.0-24`, value('127.0.0.1')]);
    await waitFor(() => c.events.length >= 2, { what: 'the removal of the lease turned bad' });
    assert.equal(c.events[1], 'removed 10.20.42.0/24 192.0.2.42 {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}');
  });

  it('a snapshot and a burst of leased puts cost etcd no TimeToLive call; a status list still reads expiries', async () => {
    const prefix = uniquePrefix();
    const ttlCalls = (): Promise<number> => timeToLiveCalls(etcd.clientUrl);
    const id = await client.lease(600, { autoKeepAlive: false }).grant();
    const put = (i: number): Promise<unknown> =>
      client.put(`${prefix}/subnets/10.20.${100 + i}.0-24`).value(value(`192.0.2.${100 + i}`)).lease(id).exec();
    await Promise.all(Array.from({ length: 20 }, (_, i) => put(i)));
    const before = await ttlCalls();
    const c = collector();
    watcher(client, prefix).start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    assert.equal(c.resets[0]?.length, 20);
    await Promise.all(Array.from({ length: 30 }, (_, i) => put(20 + i)));
    await waitFor(() => c.events.length === 30, { what: '30 events' });
    assert.equal(await ttlCalls(), before, 'the watcher asked etcd for TimeToLive');
    const listed = await new SubnetRegistry(client, prefix, rec.log).listLeases();
    assert.equal(listed.leases.length, 50);
    assert.ok(listed.leases.every((l) => l.expiration !== null && l.expiration.getTime() > Date.now()), 'every listed lease has an expiry');
    assert.equal(await ttlCalls(), before + 50);
  });
});
