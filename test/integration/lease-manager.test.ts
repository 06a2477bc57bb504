// The lease manager against a real etcd member on loopback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdctl, timeToLiveCalls } from '../support/etcd.js';
import { leaseLab } from '../support/lease-lab.js';
import { delay, waitFor } from '../support/proc.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { testConfig, uniquePrefix } from '../support/subnet-fixtures.js';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseManager, type LeaseManagerOptions } from '../../src/subnet/lease-manager.js';
import { formatCidr, parseCidr } from '../../src/net/ipv4.js';
import type { NetworkConfig } from '../../src/config/network-config.js';
import type { Lease } from '../../src/subnet/lease.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

interface EtcdKv { key: string; value: string; lease: string; mod_revision: number }

describe('lease manager (real etcd)', { skip }, () => {
  const lab = leaseLab();
  const rec = lab.rec;

  const manager = (prefix: string, config: NetworkConfig, publicIP: string, extra: Partial<LeaseManagerOptions> = {}): LeaseManager =>
    lab.manager(prefix, config, { publicIP, publicIPv6: null, backendType: 'alloc' }, extra);

  async function getJson(key: string): Promise<EtcdKv | null> {
    const text = await etcdctl(lab.etcd.clientUrl, ['get', key, '-w', 'json']);
    const out = JSON.parse(text) as { kvs?: Array<Record<string, unknown>> };
    const kv = out.kvs?.[0];
    if (!kv) return null;
    // Lease ids are int64: read them from the text, JSON.parse would round them. etcdctl omits a zero lease.
    const lease = /"lease":(\d+)/.exec(text)?.[1] ?? '0';
    return {
      key: Buffer.from(String(kv.key), 'base64').toString(), value: Buffer.from(String(kv.value), 'base64').toString(),
      lease, mod_revision: kv.mod_revision as number,
    };
  }

  it('gives two hosts distinct subnets, stored as upstream writes them', async () => {
    const prefix = uniquePrefix();
    const cfg = testConfig('10.10.0.0/16', 24);
    const [a, b] = await Promise.all([manager(prefix, cfg, '192.0.2.1').acquire(), manager(prefix, cfg, '192.0.2.2').acquire()]);
    assert.notEqual(formatCidr(a.subnet), formatCidr(b.subnet));
    const kv = await getJson(`${prefix}/subnets/${formatCidr(a.subnet).replace('/', '-')}`);
    assert.equal(kv?.value, '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"alloc"}');
    assert.ok(kv && kv.lease !== '0', 'key is attached to an etcd lease');
  });

  it('picks a subnet among 30 leased keys without asking etcd for any expiry (the choice never reads one)', async () => {
    const prefix = uniquePrefix();
    const cfg = testConfig('10.13.0.0/16', 24);
    const id = await lab.client.lease(600, { autoKeepAlive: false }).grant();
    await Promise.all(Array.from({ length: 30 }, (_, i) => lab.client.put(`${prefix}/subnets/10.13.${10 + i}.0-24`)
      .value(`{"PublicIP":"192.0.2.${10 + i}","PublicIPv6":null,"BackendType":"alloc"}`).lease(id).exec()));
    const before = await timeToLiveCalls(lab.etcd.clientUrl);
    const lease = await manager(prefix, cfg, '192.0.2.99').acquire();
    assert.ok(lease.expiration !== null, 'our own lease has its expiry (from the grant)');
    assert.equal(await timeToLiveCalls(lab.etcd.clientUrl), before);
  });

  it('gives a restarted host (same PublicIP, no subnet file) its subnet back', async () => {
    const prefix = uniquePrefix();
    const cfg = testConfig('10.11.0.0/16', 24);
    const first = await manager(prefix, cfg, '192.0.2.5').acquire();
    const again = await manager(prefix, cfg, '192.0.2.5').acquire();
    assert.equal(formatCidr(again.subnet), formatCidr(first.subnet));
    assert.notEqual(again.etcdLeaseId, first.etcdLeaseId, 'renewed with a new etcd lease, as upstream');
  });

  it('takes the lease list read ahead for its first try (no list round trip of its own)', async () => {
    const prefix = uniquePrefix();
    // etcd holds nothing; the list read ahead says 10.15.44.0/24 is another host's: a manager that used a list of
    // its own would take its previous subnet, free in etcd.
    const held: Lease = { subnet: parseCidr('10.15.44.0/24')!, attrs: { publicIP: '198.51.100.44', publicIPv6: null, backendType: 'alloc' },
      expiration: null, etcdLeaseId: '0', revision: '1' };
    const lease = await manager(prefix, testConfig('10.15.0.0/16', 24), '192.0.2.44',
      { previousSubnet: parseCidr('10.15.44.0/24'), firstList: Promise.resolve({ leases: [held] }) }).acquire();
    assert.notEqual(formatCidr(lease.subnet), '10.15.44.0/24');
  });

  it('a list read ahead that went stale costs a fresh pick, never another host\'s subnet', async () => {
    const prefix = uniquePrefix();
    const key = `${prefix}/subnets/10.15.45.0-24`;
    const theirs = '{"PublicIP":"198.51.100.45","PublicIPv6":null,"BackendType":"alloc"}';
    await etcdctl(lab.etcd.clientUrl, ['put', key, theirs]); // taken after our (empty) list was read
    const lease = await manager(prefix, testConfig('10.15.0.0/16', 24), '192.0.2.45',
      { previousSubnet: parseCidr('10.15.45.0/24'), firstList: Promise.resolve({ leases: [] }) }).acquire();
    assert.notEqual(formatCidr(lease.subnet), '10.15.45.0/24');
    assert.equal((await getJson(key))?.value, theirs);
  });

  it('honours the previous subnet from the subnet file', async () => {
    const prefix = uniquePrefix();
    const previous = parseCidr('10.12.77.0/24');
    const lease = await manager(prefix, testConfig('10.12.0.0/16', 24), '192.0.2.6', { previousSubnet: previous }).acquire();
    assert.equal(formatCidr(lease.subnet), '10.12.77.0/24');
  });

  it('uses a reservation for our PublicIP and leaves it a reservation', async () => {
    const prefix = uniquePrefix();
    const key = `${prefix}/subnets/10.13.9.0-24`;
    await etcdctl(lab.etcd.clientUrl, ['put', key, '{"PublicIP":"192.0.2.7","PublicIPv6":null}']);
    const m = manager(prefix, testConfig('10.13.0.0/16', 24), '192.0.2.7', { ttlSeconds: 2 });
    const lease = await m.acquire();
    assert.equal(formatCidr(lease.subnet), '10.13.9.0/24');
    assert.equal(lease.expiration, null);
    m.keep();
    await new Promise((r) => setTimeout(r, 2500)); // longer than the TTL a lease would get
    const kv = await getJson(key);
    assert.equal(kv?.value, '{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"alloc"}');
    assert.equal(kv?.lease, '0', 'still a reservation');
  });

  it('replaces its own dual-stack lease when the network is IPv4-only, as upstream does', async () => {
    const prefix = uniquePrefix();
    const key = `${prefix}/subnets/10.19.5.0-24&fc00:0:0:5::-64`;
    const granted = /lease ([0-9a-f]+) granted/.exec(await etcdctl(lab.etcd.clientUrl, ['lease', 'grant', '60']))![1]!;
    await etcdctl(lab.etcd.clientUrl, ['put', `--lease=${granted}`, key, '{"PublicIP":"192.0.2.9","PublicIPv6":"fc00::9"}']);
    const lease = await manager(prefix, testConfig('10.19.0.0/16', 24), '192.0.2.9').acquire();
    // Upstream's isIPv6SubnetConfigCompat: with IPv6 off, a lease with a v6 part does not fit; it is deleted.
    assert.equal(lease.ipv6Subnet ?? null, null);
    const keys = (await etcdctl(lab.etcd.clientUrl, ['get', '--prefix', `${prefix}/subnets/`, '--keys-only'])).split('\n').filter(Boolean);
    assert.deepEqual(keys, [`${prefix}/subnets/${formatCidr(lease.subnet).replace('/', '-')}`]);
  });

  it('never touches foreign leases or keys it cannot parse', async () => {
    const prefix = uniquePrefix();
    const foreign: Array<[string, string]> = [
      [`${prefix}/subnets/10.14.1.0-24`, '{"PublicIP":"198.51.100.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}'],
      [`${prefix}/subnets/10.14.2.0-24`, '{"PublicIP":"198.51.100.2"}'],
      [`${prefix}/subnets/10.14.3.0-24`, 'not json'],
      [`${prefix}/subnets/garbage`, '{"PublicIP":"198.51.100.4"}'],
    ];
    for (const [k, v] of foreign) await etcdctl(lab.etcd.clientUrl, ['put', k, v]);
    const before = await Promise.all(foreign.map(([k]) => getJson(k)));
    const cfg = testConfig('10.14.0.0/24', 26, '10.14.0.0', '10.14.0.192');
    const m = manager(prefix, cfg, '192.0.2.8', { ttlSeconds: 2 });
    const lease = await m.acquire();
    // 10.14.1.0/24 etc. lie outside this small pool; the pool must still hand out a subnet of its own.
    assert.equal(lease.subnet.prefixLen, 26);
    m.keep();
    await new Promise((resolve) => m.once('renewed', resolve));
    const afterKvs = await Promise.all(foreign.map(([k]) => getJson(k)));
    assert.deepEqual(afterKvs, before);
    const warnings = rec.lines.filter((l) => String(l.msg).startsWith('ignoring a'));
    assert.ok(warnings.some((l) => l.key === `${prefix}/subnets/garbage`));
    assert.ok(warnings.some((l) => l.key === `${prefix}/subnets/10.14.3.0-24`));
    // One warning per bad key, not one per list.
    assert.equal(warnings.filter((l) => l.key === `${prefix}/subnets/garbage`).length, 1);
  });

  it('lets ten claimants share a pool of ten, and tells the eleventh clearly that it is full', async () => {
    const prefix = uniquePrefix();
    const cfg = testConfig('10.15.0.0/24', 28, '10.15.0.16', '10.15.0.160');
    const ms = Array.from({ length: 10 }, (_, i) => manager(prefix, cfg, `192.0.2.${20 + i}`));
    const leases = await Promise.all(ms.map((m) => m.acquire()));
    assert.equal(new Set(leases.map((l) => formatCidr(l.subnet))).size, 10);
    const eleventh = manager(prefix, cfg, '192.0.2.40', { fullPoolRetryMs: 200 });
    const ctl = new AbortController();
    const exhausted = new Promise<string>((resolve) => eleventh.once('pool-exhausted', resolve));
    const pending = eleventh.acquire(ctl.signal);
    const msg = await exhausted;
    assert.match(msg, /^no free subnet in 10\.15\.0\.0\/24 \(10\.15\.0\.16–10\.15\.0\.160\): all 10 \/28 subnets are leased/);
    // Once one frees up, the waiting claimant gets it.
    await etcdctl(lab.etcd.clientUrl, ['del', `${prefix}/subnets/${formatCidr(leases[3]!.subnet).replace('/', '-')}`]);
    const got = await pending;
    ctl.abort();
    assert.equal(formatCidr(got.subnet), formatCidr(leases[3]!.subnet));
    assert.equal(rec.messages().filter((m) => m === msg).length, 1, 'the full-pool line is logged once, not per retry');
  });

  it('renews a short-TTL lease past its TTL', async () => {
    const prefix = uniquePrefix();
    const m = manager(prefix, testConfig('10.16.0.0/16', 24), '192.0.2.50', { ttlSeconds: 4 });
    const lease = await m.acquire();
    const startedAt = Date.now();
    m.keep();
    const renewals: Lease[] = [];
    m.on('renewed', (l: Lease) => renewals.push(l));
    await waitFor(() => Date.now() - startedAt > 6000 && renewals.length >= 2, { what: 'two renewals past the TTL', timeoutMs: 15_000 });
    const kv = await getJson(`${prefix}/subnets/${formatCidr(lease.subnet).replace('/', '-')}`);
    assert.ok(kv, 'the key outlived its 4 s TTL');
    assert.equal(kv.lease, m.lease?.etcdLeaseId);
  });

  it('re-acquires the same subnet when its key is deleted', async () => {
    const prefix = uniquePrefix();
    const m = manager(prefix, testConfig('10.17.0.0/16', 24), '192.0.2.51');
    const lease = await m.acquire();
    m.keep();
    const reacquired = new Promise<Lease>((resolve) => m.once('reacquired', resolve));
    const key = `${prefix}/subnets/${formatCidr(lease.subnet).replace('/', '-')}`;
    await etcdctl(lab.etcd.clientUrl, ['del', key]);
    const again = await reacquired;
    assert.equal(formatCidr(again.subnet), formatCidr(lease.subnet));
    assert.ok(await getJson(key));
    assert.ok(rec.messages().some((msg) => msg.startsWith('our lease vanished')));
  });

  it('keeps its subnet through an etcd outage longer than the TTL, then gets the same subnet back', async () => {
    const prefix = uniquePrefix();
    const url = new URL(lab.etcd.clientUrl);
    const proxy = await startTcpProxy(url.hostname, Number(url.port));
    const cutClient = createEtcdClient({ endpoints: [proxy.url], callTimeoutMs: 1000 }, rec.log);
    // Its own client through the proxy; stopped before that client closes.
    const m = manager(prefix, testConfig('10.18.0.0/16', 24), '192.0.2.60',
      { registry: new SubnetRegistry(cutClient, prefix, rec.log), ttlSeconds: 3 });
    try {
      const lease = await m.acquire();
      m.keep();
      const key = `${prefix}/subnets/${formatCidr(lease.subnet).replace('/', '-')}`;
      const reacquired = new Promise<Lease>((resolve) => m.once('reacquired', resolve));
      const failuresBefore = rec.messages().filter((x) => x.startsWith('lease renewal failed')).length;
      proxy.cut();
      await waitFor(async () => (await getJson(key)) === null, { what: 'the lease to expire in etcd', timeoutMs: 15_000 });
      await delay(1000);
      assert.equal(formatCidr(m.lease!.subnet), formatCidr(lease.subnet), 'keeps the subnet while etcd is unreachable');
      const failures = rec.messages().filter((x) => x.startsWith('lease renewal failed')).length - failuresBefore;
      assert.ok(failures >= 1 && failures <= 2, `renewal failures are logged at a bounded rate (${failures} lines)`);
      proxy.resume();
      const again = await reacquired;
      assert.equal(formatCidr(again.subnet), formatCidr(lease.subnet));
      assert.ok(await getJson(key), 'the key exists again');
    } finally {
      proxy.resume();
      await m.stop();
      cutClient.close();
      await proxy.close();
    }
  });
});
