// The config follower against a real etcd serving both APIs: a write to `<prefix>/config` reaches it through the
// watch (the safety-net re-read is set to 10 minutes, so only the watch can deliver within the wait), a burst of
// writes is one change with the last text, a cut watch comes back and delivers what was written meanwhile with one
// warning for the outage, and after migrate-etcd the follower watches the v3 key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { etcdctl, etcdctlV2, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { withProxiedClient } from '../support/tcp-proxy.js';
import { recordingLogger, uniquePrefix } from '../support/subnet-fixtures.js';
import { missingPrerequisite } from '../support/prerequisites.js';
import { followConfig, type ConfigFollower, type FollowTiming } from '../../src/config-follow.js';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { FollowingRegistry } from '../../src/subnet/following-registry.js';
import { SubnetRegistry, type EtcdApi, type LeaseRegistry } from '../../src/subnet/registry.js';
import { EtcdV2Client } from '../../src/subnet/v2/client.js';
import { V2SubnetRegistry } from '../../src/subnet/v2/registry.js';
import { migrateV2ToV3 } from '../../src/ops/migrate-etcd.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

/** Longer than any wait below: a change seen within a wait came through the watch. */
const NO_SAFETY_NET: Partial<FollowTiming> = { safetyNetMs: 600_000, retryMs: 200, maxRetryMs: 1000 };
const PROMPT = { timeoutMs: 5000 } as const;
const cfg = (type: string, port = 8472): string => `{"Network":"10.40.0.0/16","Backend":{"Type":"${type}","Port":${port}}}`;

describe('config follower (real etcd, v3 and --enable-v2)', { skip }, () => {
  let etcd: EtcdMember;
  const rec = recordingLogger();
  const cleanup: Array<() => Promise<void> | void> = [];

  before(async () => {
    etcd = await startEtcd({ enableV2: true });
  });
  after(async () => {
    for (const f of cleanup.reverse()) await f();
    await stopAllEtcd();
  });

  const v3At = (url: string): Etcd3 => createEtcdClient({ endpoints: [url], callTimeoutMs: 1000 }, rec.log);
  const v2At = (url: string): EtcdV2Client => new EtcdV2Client({ endpoints: [url], callTimeoutMs: 1000 }, rec.log);
  const registryOn = (api: EtcdApi, client: Etcd3 | EtcdV2Client, prefix: string): LeaseRegistry => (api === 'v3'
    ? new SubnetRegistry(client as Etcd3, prefix, rec.log) : new V2SubnetRegistry(client as EtcdV2Client, prefix, rec.log));
  const put = async (api: EtcdApi, key: string, value: string): Promise<void> => {
    if (api === 'v3') await etcdctl(etcd.clientUrl, ['put', key], { input: value });
    else await etcdctlV2(etcd.clientUrl, ['set', key], { input: value });
  };
  const follow = (registry: LeaseRegistry, initial: string | null, timing: Partial<FollowTiming> = NO_SAFETY_NET):
    { seen: string[]; follower: ConfigFollower } => {
    const seen: string[] = [];
    const follower = followConfig({ registry, initial, timing, log: rec.log, onChange: async (text) => { seen.push(text); } });
    cleanup.push(() => follower.stop());
    return { seen, follower };
  };
  const watching = (): Promise<unknown> => new Promise((r) => setTimeout(r, 300)); // lets the first watch start

  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: a config write reaches the follower through the watch, not the safety net`, async () => {
      const prefix = uniquePrefix();
      const client = api === 'v3' ? v3At(etcd.clientUrl) : v2At(etcd.clientUrl);
      cleanup.push(() => void client.close());
      await put(api, `${prefix}/config`, cfg('vxlan'));
      const { seen } = follow(registryOn(api, client, prefix), cfg('vxlan'));
      await watching();
      await put(api, `${prefix}/config`, cfg('host-gw'));
      await waitFor(() => seen.length === 1, { what: 'the new config', ...PROMPT });
      assert.deepEqual(seen, [cfg('host-gw')]);
      await put(api, `${prefix}/config`, cfg('vxlan'));
      await waitFor(() => seen.length === 2, { what: 'the second change', ...PROMPT });
      assert.deepEqual(seen, [cfg('host-gw'), cfg('vxlan')]);
    });

    it(`${api}: a burst of writes is one change with the last text`, async () => {
      const prefix = uniquePrefix();
      const client = api === 'v3' ? v3At(etcd.clientUrl) : v2At(etcd.clientUrl);
      cleanup.push(() => void client.close());
      await put(api, `${prefix}/config`, cfg('vxlan'));
      // The debounce is longer than the burst takes, so the burst falls in one window.
      const { seen } = follow(registryOn(api, client, prefix), cfg('vxlan'), { ...NO_SAFETY_NET, debounceMs: 1500 });
      await watching();
      for (let port = 9000; port < 9010; port++) {
        if (client instanceof EtcdV2Client) await client.set(`${prefix}/config`, cfg('vxlan', port));
        else await client.put(`${prefix}/config`).value(cfg('vxlan', port));
      }
      await waitFor(() => seen.length === 1, { what: 'the change after the burst', ...PROMPT });
      await new Promise((r) => setTimeout(r, 2000)); // a second change, if any, would come within one more debounce
      assert.deepEqual(seen, [cfg('vxlan', 9009)]);
    });

    it(`${api}: a cut watch comes back and delivers the write made meanwhile, with one warning`, async () => {
      const prefix = uniquePrefix();
      await put(api, `${prefix}/config`, cfg('vxlan'));
      const connect = (url: string): Etcd3 | EtcdV2Client => (api === 'v3' ? v3At(url) : v2At(url));
      await withProxiedClient(etcd.clientUrl, connect, async (proxy, client) => {
        const warnsBefore = rec.warnings().filter((m) => m.startsWith('watching the network config stopped')).length;
        const { seen, follower } = follow(registryOn(api, client, prefix), cfg('vxlan'));
        await watching();
        proxy.cut();
        await waitFor(() => rec.warnings().filter((m) => m.startsWith('watching the network config stopped')).length > warnsBefore,
          { what: 'the outage warning', timeoutMs: 20_000 });
        await put(api, `${prefix}/config`, cfg('host-gw'));
        await new Promise((r) => setTimeout(r, 2500)); // several retries fail while the cut lasts
        assert.deepEqual(seen, [], 'nothing changes while etcd is away');
        proxy.resume();
        await waitFor(() => seen.length === 1, { what: 'the write made during the cut', timeoutMs: 20_000 });
        assert.deepEqual(seen, [cfg('host-gw')]);
        assert.equal(rec.warnings().filter((m) => m.startsWith('watching the network config stopped')).length, warnsBefore + 1,
          'one warning per outage');
        await waitFor(() => rec.messages().includes('watching the network config again'), { what: 'the all-clear' });
        // The watch itself is back: a later write arrives through it.
        await put(api, `${prefix}/config`, cfg('vxlan'));
        await waitFor(() => seen.length === 2, { what: 'a write after the outage', ...PROMPT });
        follower.stop();
      });
    });
  }

  /** Makes the revision a cut watch would resume from unusable: a v3 compaction, or 1000+ v2 events. */
  const forget = async (api: EtcdApi, prefix: string): Promise<void> => {
    if (api === 'v3') {
      await etcdctl(etcd.clientUrl, ['put', `${prefix}/noise`, 'x']);
      const rev = JSON.parse(await etcdctl(etcd.clientUrl, ['get', `${prefix}/noise`, '-w', 'json'])).header.revision as number;
      await etcdctl(etcd.clientUrl, ['compaction', String(rev)]);
    } else {
      const v2 = v2At(etcd.clientUrl);
      try {
        for (let i = 0; i < 1010; i++) await v2.set(`${prefix}/noise`, String(i));
      } finally {
        v2.close();
      }
    }
  };

  for (const api of ['v3', 'v2'] as const) {
    it(`${api}: a watch cut past ${api === 'v3' ? 'a compaction' : '"401 event index cleared"'} reads the key afresh`, async () => {
      const prefix = uniquePrefix();
      await put(api, `${prefix}/config`, cfg('vxlan'));
      const connect = (url: string): Etcd3 | EtcdV2Client => (api === 'v3' ? v3At(url) : v2At(url));
      await withProxiedClient(etcd.clientUrl, connect, async (proxy, client) => {
        const { seen, follower } = follow(registryOn(api, client, prefix), cfg('vxlan'));
        await watching();
        proxy.cut();
        await put(api, `${prefix}/config`, cfg('host-gw'));
        await forget(api, prefix);
        proxy.resume();
        await waitFor(() => seen.length === 1, { what: 'the write made before the history was dropped', timeoutMs: 20_000 });
        assert.deepEqual(seen, [cfg('host-gw')]);
        await put(api, `${prefix}/config`, cfg('vxlan'));
        await waitFor(() => seen.length === 2, { what: 'a write after the fresh read', ...PROMPT });
        follower.stop();
      });
    });
  }

  it('after migrate-etcd the follower watches the v3 key', async () => {
    const prefix = uniquePrefix();
    const v2 = v2At(etcd.clientUrl);
    const v3 = v3At(etcd.clientUrl);
    cleanup.push(() => v2.close(), () => v3.close());
    await put('v2', `${prefix}/config`, cfg('vxlan'));
    const following = new FollowingRegistry(new V2SubnetRegistry(v2, prefix, rec.log), new SubnetRegistry(v3, prefix, rec.log), rec.log, 200);
    cleanup.push(() => following.close());
    const { seen } = follow(following, cfg('vxlan'));
    await watching();
    await migrateV2ToV3(v2, v3, prefix, { dryRun: false, force: false });
    await waitFor(() => following.api === 'v3', { what: 'the switch to v3' });
    await put('v3', `${prefix}/config`, cfg('host-gw'));
    await waitFor(() => seen.length === 1, { what: 'the v3 write', ...PROMPT });
    assert.deepEqual(seen, [cfg('host-gw')]);
  });
});
