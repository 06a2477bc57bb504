// flannel_etcd_errors_total counts the lease manager's and the watcher's failures, not only config reads: a real etcd
// behind a loopback proxy that the test cuts, with the daemon's own wiring of the observer hooks into the metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { startEtcd, stopAllEtcd } from '../support/etcd.js';
import { waitFor } from '../support/proc.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { recordingLogger, testConfig, uniquePrefix } from '../support/subnet-fixtures.js';
import { connectObservers } from '../../src/daemon.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { DaemonCounts } from '../../src/ops/counts.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createEtcdClient, setEtcdErrorObserver, type EtcdOperation } from '../../src/subnet/etcd-client.js';
import { LeaseManager } from '../../src/subnet/lease-manager.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseWatcher } from '../../src/subnet/watcher.js';
import { parseCidr } from '../../src/net/ipv4.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

const ALL_OPERATIONS: readonly EtcdOperation[] = ['get_config', 'acquire_lease', 'renew_lease', 'check_lease',
  'watch_own_lease', 'list_leases', 'watch_leases'];

/** The operation labels of flannel_etcd_errors_total with a count above zero. */
const counts = new DaemonCounts();
function countedOperations(): Map<string, number> {
  return new Map(counts.etcdErrors);
}

describe('etcd errors in /metrics (real etcd behind a proxy)', { skip, timeout: 60_000 }, () => {
  const rec = recordingLogger();
  let proxy: TcpProxy;
  let client: Etcd3;
  const managers: LeaseManager[] = [];
  const watchers: LeaseWatcher[] = [];

  before(async () => {
    const etcd = await startEtcd();
    const url = new URL(etcd.clientUrl);
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    client = createEtcdClient({ endpoints: [proxy.url], callTimeoutMs: 1000 }, rec.log);
    connectObservers(new Lifecycle().observe('etcdError', (op) => counts.etcdError(op)));
  });
  after(async () => {
    await Promise.all([...managers, ...watchers].map((p) => p.stop()));
    setEtcdErrorObserver(null);
    client?.close();
    await proxy?.close();
    await stopAllEtcd();
  });

  it('counts failed lease acquisitions, renewals, checks, lists and watches by operation name', async () => {
    const prefix = uniquePrefix();
    const registry = new SubnetRegistry(client, prefix, rec.log);
    const config = testConfig('10.30.0.0/16', 24);
    const manager = (publicIP: string): LeaseManager => {
      const m = new LeaseManager({ registry, config, attrs: { publicIP, publicIPv6: null, backendType: 'alloc' },
        previousSubnet: null, ttlSeconds: 4, renewMarginMinutes: 60, log: rec.log });
      managers.push(m);
      return m;
    };
    const watcher = (): LeaseWatcher => {
      const w = new LeaseWatcher({ registry, ownSubnet: () => parseCidr('10.30.1.0/24')!, log: rec.log });
      watchers.push(w);
      return w;
    };

    const holder = manager('192.0.2.1');
    await holder.acquire();
    holder.keep();
    let snapshots = 0;
    watcher().start({ reset: () => { snapshots++; }, events: () => undefined });
    await waitFor(() => snapshots === 1, { what: 'the first lease snapshot' });
    assert.deepEqual([...countedOperations().keys()], [], 'no errors while etcd answers');

    proxy.cut();
    // Started while etcd is unreachable: the first list and the first acquisition fail.
    watcher().start({ reset: () => undefined, events: () => undefined });
    void manager('192.0.2.2').acquire().catch(() => undefined);

    const expected = ['acquire_lease', 'check_lease', 'list_leases', 'renew_lease', 'watch_leases', 'watch_own_lease'];
    const counted = await waitFor(async () => {
      const c = countedOperations();
      return expected.every((op) => c.has(op)) ? c : null;
    }, { what: `errors counted for ${expected.join(', ')}`, timeoutMs: 30_000, intervalMs: 200 });
    for (const op of counted.keys()) {
      assert.ok((ALL_OPERATIONS as readonly string[]).includes(op), `label "${op}" is an operation name, not a key`);
    }
    const text = await createMetrics(counts, false).registry.metrics();
    assert.match(text, /^flannel_etcd_errors_total\{operation="renew_lease"\} [1-9]\d*$/m);
    assert.doesNotMatch(text, /flannel_etcd_errors_total\{operation="[^"]*\/[^"]*"\}/, 'no etcd key in a label');
  });
});
