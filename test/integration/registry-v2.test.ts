// The etcd v2 registry against a real etcd 3.4 with --enable-v2, written to the way flannel 0.7 clusters are (etcdctl
// with API v2): config read, create race, TTL expiry seen as a removal, compare-and-swap renewals, `401 event index
// cleared` answered by a re-list, and a watch that resumes from its index after a cut connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdctlV2, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { withProxiedClient } from '../support/tcp-proxy.js';
import { recordingLogger, testConfig, uniquePrefix } from '../support/subnet-fixtures.js';
import { formatCidr, parseCidr } from '../../src/net/ipv4.js';
import type { Lease, LeaseAttrs, LeaseEvent } from '../../src/subnet/lease.js';
import { LeaseManager } from '../../src/subnet/lease-manager.js';
import { EtcdV2Client, EtcdV2Error } from '../../src/subnet/v2/client.js';
import { V2SubnetRegistry } from '../../src/subnet/v2/registry.js';
import { LeaseWatcher } from '../../src/subnet/watcher.js';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { FollowingRegistry } from '../../src/subnet/following-registry.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { migrateV2ToV3 } from '../../src/ops/migrate-etcd.js';
import { etcdctl } from '../support/etcd.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

/** A lease value as flannel 0.7.1 writes it: no PublicIPv6, no VNI. */
const v071 = (ip: string, mac = 'aa:bb:cc:dd:ee:01'): string =>
  `{"PublicIP":"${ip}","BackendType":"vxlan","BackendData":{"VtepMAC":"${mac}"}}`;
const attrs = (ip: string): LeaseAttrs => ({ publicIP: ip, publicIPv6: null, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:00:00:01' } });

function collector(): { resets: string[][]; events: string[]; handlers: { reset(p: Lease[]): void; events(e: LeaseEvent[]): void } } {
  const resets: string[][] = [];
  const events: string[] = [];
  const d = (l: Lease): string => `${formatCidr(l.subnet)} ${l.attrs.publicIP}`;
  return { resets, events, handlers: {
    reset: (peers) => { resets.push(peers.map(d).sort()); },
    events: (evts) => { for (const e of evts) events.push(`${e.type} ${d(e.lease)}`); },
  } };
}

describe('etcd v2 registry (real etcd --enable-v2)', { skip }, () => {
  let etcd: EtcdMember;
  let client: EtcdV2Client;
  const rec = recordingLogger();
  const cleanup: Array<() => Promise<void> | void> = [];
  const own = parseCidr('10.30.1.0/24')!;

  before(async () => {
    etcd = await startEtcd({ enableV2: true });
    client = new EtcdV2Client({ endpoints: [etcd.clientUrl] }, rec.log);
  });
  after(async () => {
    for (const f of cleanup.reverse()) await f();
    client?.close();
    await stopAllEtcd();
  });

  const registry = (prefix: string, c = client): V2SubnetRegistry => new V2SubnetRegistry(c, prefix, rec.log);
  const watcher = (reg: V2SubnetRegistry): LeaseWatcher => {
    const w = new LeaseWatcher({ registry: reg, ownSubnet: () => own, log: rec.log });
    cleanup.push(() => w.stop());
    return w;
  };

  it('reads the config the seed writes with etcdctl set, and null when there is none', async () => {
    const prefix = uniquePrefix();
    assert.equal(await registry(prefix).getConfigText(), null);
    await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/config`], { input: '{"Network":"10.30.0.0/16","Backend":{"Type":"vxlan"}}' });
    assert.equal((await registry(prefix).getConfigText())?.trim(), '{"Network":"10.30.0.0/16","Backend":{"Type":"vxlan"}}');
  });

  it('names --enable-v2 when etcd does not serve the v2 API', async () => {
    const plain = await startEtcd();
    const c = new EtcdV2Client({ endpoints: [plain.clientUrl] }, rec.log);
    try {
      await assert.rejects(registry(uniquePrefix(), c).getConfigText(), (e: Error) =>
        e instanceof EtcdV2Error && /--enable-v2=true/.test(e.message) && !e.message.includes('\n'));
    } finally {
      c.close();
      await plain.destroy();
    }
  });

  it('lets exactly one of two racing creators have a subnet, with a TTL on the key', async () => {
    const prefix = uniquePrefix();
    const subnet = parseCidr('10.30.5.0/24')!;
    const [a, b] = await Promise.all([registry(prefix).createLease(subnet, attrs('192.0.2.1'), 60),
      registry(prefix).createLease(subnet, attrs('192.0.2.2'), 60)]);
    assert.equal([a, b].filter((x) => x !== null).length, 1);
    const winner = (a ?? b)!;
    const stored = await client.get(`${prefix}/subnets/10.30.5.0-24`);
    assert.ok(stored.node.ttl !== undefined && stored.node.ttl > 0 && stored.node.ttl <= 60, `ttl ${stored.node.ttl}`);
    assert.equal(JSON.parse(stored.node.value!).PublicIP, winner.attrs.publicIP);
    assert.notEqual(winner.etcdLeaseId, '0');
  });

  it('reads leases written by flannel 0.7.1 (no VNI, no PublicIPv6) and sees TTL expiry as a removal', async () => {
    const prefix = uniquePrefix();
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '60', `${prefix}/subnets/10.30.2.0-24`, v071('192.0.2.2')]);
    const c = collector();
    watcher(registry(prefix)).start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    assert.deepEqual(c.resets[0], ['10.30.2.0/24 192.0.2.2']);
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '2', `${prefix}/subnets/10.30.3.0-24`, v071('192.0.2.3')]);
    await waitFor(() => c.events.includes('removed 10.30.3.0/24 192.0.2.3'), { what: 'the expiry as a removal', timeoutMs: 15_000 });
    assert.deepEqual(c.events, ['added 10.30.3.0/24 192.0.2.3', 'removed 10.30.3.0/24 192.0.2.3']);
  });

  it('renews by compare-and-swap: not over a key someone else rewrote, and not a key that is gone', async () => {
    const prefix = uniquePrefix();
    const reg = registry(prefix);
    const subnet = parseCidr('10.30.7.0/24')!;
    const lease = (await reg.createLease(subnet, attrs('192.0.2.7'), 60))!;
    const renewed = await reg.renewExistingLease(lease, attrs('192.0.2.7'), 120);
    assert.ok(renewed && BigInt(renewed.revision) > BigInt(lease.revision));
    assert.ok((await client.get(`${prefix}/subnets/10.30.7.0-24`)).node.ttl! > 60);
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '60', `${prefix}/subnets/10.30.7.0-24`, v071('192.0.2.99')]);
    assert.equal(await reg.renewExistingLease(renewed, attrs('192.0.2.7'), 60), null);
    assert.equal(JSON.parse((await client.get(`${prefix}/subnets/10.30.7.0-24`)).node.value!).PublicIP, '192.0.2.99');
    await etcdctlV2(etcd.clientUrl, ['rm', `${prefix}/subnets/10.30.7.0-24`]);
    assert.equal(await registry(prefix).renewExistingLease(renewed, attrs('192.0.2.7'), 60), null);
    assert.equal(await reg.getLease(subnet), null);
  });

  /** A v2 client with a short call timeout, for the tests that cut its connection. */
  const cutClientAt = (url: string): EtcdV2Client => new EtcdV2Client({ endpoints: [url], callTimeoutMs: 1000 }, rec.log);

  it('answers "401 event index cleared" with a re-list that emits the difference', async () => {
    const prefix = uniquePrefix();
    await withProxiedClient(etcd.clientUrl, cutClientAt, async (proxy, cutClient) => {
      await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.30.6.0-24`, v071('192.0.2.6')]);
      const c = collector();
      watcher(registry(prefix, cutClient)).start(c.handlers);
      await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
      proxy.cut();
      await etcdctlV2(etcd.clientUrl, ['rm', `${prefix}/subnets/10.30.6.0-24`]);
      await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.30.8.0-24`, v071('192.0.2.8')]);
      // etcd v2 keeps the last 1000 events: push the watcher's index out of that window.
      for (let i = 0; i < 1010; i++) await client.set(`${prefix}/noise`, String(i));
      proxy.resume();
      await waitFor(() => c.events.length >= 2, { what: 'the difference after the re-list', timeoutMs: 20_000 });
      assert.deepEqual([...c.events].sort(), ['added 10.30.8.0/24 192.0.2.8', 'removed 10.30.6.0/24 192.0.2.6']);
      assert.ok(rec.messages().includes('lease watch canceled by etcd; re-listing'));
      await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.30.9.0-24`, v071('192.0.2.9')]);
      await waitFor(() => c.events.length === 3, { what: 'an event after the re-list' });
    });
  });

  it('resumes a cut watch from its index without a re-list, missing nothing', async () => {
    const prefix = uniquePrefix();
    await withProxiedClient(etcd.clientUrl, cutClientAt, async (proxy, cutClient) => {
      const c = collector();
      const relistsBefore = rec.messages().filter((m) => m.includes('re-listing')).length;
      watcher(registry(prefix, cutClient)).start(c.handlers);
      await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
      proxy.cut();
      await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.30.10.0-24`, v071('192.0.2.10')]);
      await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.30.11.0-24`, v071('192.0.2.11')]);
      await etcdctlV2(etcd.clientUrl, ['rm', `${prefix}/subnets/10.30.10.0-24`]);
      proxy.resume();
      await waitFor(() => c.events.length >= 3, { what: 'the missed events', timeoutMs: 20_000 });
      assert.deepEqual(c.events, ['added 10.30.10.0/24 192.0.2.10', 'added 10.30.11.0/24 192.0.2.11', 'removed 10.30.10.0/24 192.0.2.10']);
      assert.equal(rec.messages().filter((m) => m.includes('re-listing')).length, relistsBefore);
    });
  });

  it('runs the lease manager unchanged: acquires beside a 0.7.1 lease, renews, re-acquires after a delete', async () => {
    const prefix = uniquePrefix();
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '60', `${prefix}/subnets/10.30.1.0-24`, v071('192.0.2.1')]);
    const m = new LeaseManager({ registry: registry(prefix), config: testConfig('10.30.0.0/16', 24, '10.30.1.0', '10.30.2.0'),
      attrs: attrs('192.0.2.20'), previousSubnet: null, ttlSeconds: 6, renewMarginMinutes: 60, log: rec.log });
    cleanup.push(() => m.stop());
    const lease = await m.acquire();
    assert.equal(formatCidr(lease.subnet), '10.30.2.0/24');
    m.keep();
    const renewed = new Promise<Lease>((resolve) => m.once('renewed', resolve));
    assert.ok((await renewed).expiration!.getTime() > lease.expiration!.getTime());
    const back = new Promise<Lease>((resolve) => m.once('reacquired', resolve));
    await etcdctlV2(etcd.clientUrl, ['rm', `${prefix}/subnets/10.30.2.0-24`]);
    assert.equal(formatCidr((await back).subnet), '10.30.2.0/24');
    const stored = JSON.parse((await client.get(`${prefix}/subnets/10.30.2.0-24`)).node.value!) as Record<string, unknown>;
    assert.equal(stored.PublicIP, '192.0.2.20');
  });

  it('follows the network from v2 to v3 after migrate-etcd, without a restart: same subnet, watcher and lease on v3', async () => {
    const prefix = uniquePrefix();
    const v3client = createEtcdClient({ endpoints: [etcd.clientUrl] }, rec.log);
    cleanup.push(() => v3client.close());
    await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/config`], { input: '{"Network":"10.30.0.0/16"}' });
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '600', `${prefix}/subnets/10.30.9.0-24`, v071('192.0.2.9')]);
    const following = new FollowingRegistry(registry(prefix), new SubnetRegistry(v3client, prefix, rec.log), rec.log, 200);
    cleanup.push(() => following.close());
    const m = new LeaseManager({ registry: following, config: testConfig('10.30.0.0/16', 24, '10.30.1.0', '10.30.1.0'),
      attrs: attrs('192.0.2.30'), previousSubnet: null, ttlSeconds: 600, renewMarginMinutes: 60, log: rec.log });
    cleanup.push(() => m.stop());
    assert.equal(formatCidr((await m.acquire()).subnet), '10.30.1.0/24');
    m.keep();
    const c = collector();
    const w = new LeaseWatcher({ registry: following, ownSubnet: () => m.lease!.subnet, log: rec.log });
    cleanup.push(() => w.stop());
    w.start(c.handlers);
    await waitFor(() => c.resets.length === 1, { what: 'the snapshot' });
    assert.equal(following.api, 'v2');
    await migrateV2ToV3(client, v3client, prefix, { dryRun: false, force: false });
    await waitFor(() => following.api === 'v3', { what: 'the switch to v3' });
    assert.ok(rec.messages().some((msg) => msg.startsWith('the network config is now in the etcd v3 store')));
    // The watcher now follows v3: a lease written there (only there) arrives.
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/subnets/10.30.20.0-24`, v071('192.0.2.20')]);
    await waitFor(() => c.events.includes('added 10.30.20.0/24 192.0.2.20'), { what: 'a v3-only lease as an event' });
    assert.deepEqual(c.events, ['added 10.30.20.0/24 192.0.2.20'], 'the re-list after the switch changed nothing else');
    // The lease manager too: our key deleted in v3 is re-acquired there, with the same subnet.
    const back = new Promise<Lease>((resolve) => m.once('reacquired', resolve));
    await etcdctl(etcd.clientUrl, ['del', `${prefix}/subnets/10.30.1.0-24`]);
    assert.equal(formatCidr((await back).subnet), '10.30.1.0/24');
    const v3Value = await etcdctl(etcd.clientUrl, ['get', '--print-value-only', `${prefix}/subnets/10.30.1.0-24`]);
    assert.equal(JSON.parse(v3Value).PublicIP, '192.0.2.30');
  });

  it('notices a frozen member within a poll and a deadline, and resumes once it answers again', async () => {
    const frozen = await startEtcd({ enableV2: true });
    const c = new EtcdV2Client({ endpoints: [frozen.clientUrl], callTimeoutMs: 500, watchPollMs: 1000 }, rec.log);
    try {
      const prefix = uniquePrefix();
      const col = collector();
      const w = watcher(registry(prefix, c));
      w.start(col.handlers);
      await waitFor(() => col.resets.length === 1, { what: 'the snapshot' });
      const before = rec.messages().filter((m) => m === 'lease watch disconnected; resuming from the last revision').length;
      frozen.freeze();
      try {
        await waitFor(() => rec.messages().filter((m) => m === 'lease watch disconnected; resuming from the last revision').length > before,
          { what: 'the frozen member to be noticed', timeoutMs: 15_000 });
      } finally {
        frozen.thaw();
      }
      await etcdctlV2(frozen.clientUrl, ['set', `${prefix}/subnets/10.30.40.0-24`, v071('192.0.2.40')]);
      await waitFor(() => col.events.includes('added 10.30.40.0/24 192.0.2.40'), { what: 'an event after the thaw', timeoutMs: 15_000 });
    } finally {
      c.close();
      await frozen.destroy();
    }
  });
});
