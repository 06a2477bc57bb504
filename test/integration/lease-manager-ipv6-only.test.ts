// IPv6-only leases (EnableIPv4 false) against a real etcd member on loopback: upstream's `0.0.0.0-0&<v6>-<len>`
// keys, several hosts that all publish PublicIP 0.0.0.0 kept apart by PublicIPv6, the own-key watch on such a key,
// and the watcher delivering one host's lease to the other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailable } from '../support/etcd.js';
import { leaseLab } from '../support/lease-lab.js';
import { uniquePrefix } from '../support/subnet-fixtures.js';
import { waitFor } from '../support/proc.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseManager } from '../../src/subnet/lease-manager.js';
import { LeaseWatcher } from '../../src/subnet/watcher.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { leaseName, subnetKey } from '../../src/subnet/codec.js';
import { nets6Overlap } from '../../src/net/ipv6.js';
import type { Lease, LeaseEvent } from '../../src/subnet/lease.js';

const skip = etcdAvailable() ? false : 'etcd/etcdctl not installed (apt-get install etcd-server etcd-client)';
const V6ONLY = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:50::/56","Backend":{"Type":"alloc"}}');

describe('IPv6-only leases (real etcd)', { skip }, () => {
  const lab = leaseLab();
  const rec = lab.rec;

  const manager = (prefix: string, publicIPv6: string): LeaseManager =>
    lab.manager(prefix, V6ONLY, { publicIP: '0.0.0.0', publicIPv6, backendType: 'alloc' });

  async function keys(prefix: string): Promise<string[]> {
    const res = await lab.client.getAll().prefix(`${prefix}/subnets/`).keys();
    return res.map((k) => k.slice(`${prefix}/subnets/`.length)).sort();
  }

  it('gives each host its own IPv6 subnet under 0.0.0.0-0 keys; a restarted host finds its own, not another\'s', async () => {
    const prefix = uniquePrefix();
    const a = await manager(prefix, '2001:db8::1').acquire();
    const b = await manager(prefix, '2001:db8::2').acquire();
    assert.ok(a.ipv6Subnet && b.ipv6Subnet && !nets6Overlap(a.ipv6Subnet, b.ipv6Subnet));
    assert.deepEqual(await keys(prefix), [subnetKey(a.subnet, a.ipv6Subnet), subnetKey(b.subnet, b.ipv6Subnet)].sort());
    assert.match(subnetKey(a.subnet, a.ipv6Subnet), /^0\.0\.0\.0-0&fd00:50:0:[0-9a-f]+::-64$/);
    assert.equal((await lab.client.get(`${prefix}/subnets/${subnetKey(b.subnet, b.ipv6Subnet)}`).string()),
      '{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8::2","BackendType":"alloc"}');
    const again = await manager(prefix, '2001:db8::2').acquire();
    assert.equal(leaseName(again.subnet, again.ipv6Subnet), leaseName(b.subnet, b.ipv6Subnet));
    assert.equal((await keys(prefix)).length, 2);
  });

  it('re-acquires when its IPv6-only key is deleted (the own-key watch follows that key)', async () => {
    const prefix = uniquePrefix();
    const m = manager(prefix, '2001:db8::3');
    const lease = await m.acquire();
    m.keep();
    const back = new Promise<Lease>((resolve) => m.once('reacquired', (l: Lease) => resolve(l)));
    await lab.client.delete().key(`${prefix}/subnets/${subnetKey(lease.subnet, lease.ipv6Subnet)}`);
    const got = await back;
    assert.equal(leaseName(got.subnet, got.ipv6Subnet), leaseName(lease.subnet, lease.ipv6Subnet));
    assert.deepEqual(await keys(prefix), [subnetKey(lease.subnet, lease.ipv6Subnet)]);
  });

  it('the watcher hands one host the other\'s lease, not its own, and its removal', async () => {
    const prefix = uniquePrefix();
    const mine = await manager(prefix, '2001:db8::4').acquire();
    const theirs = await manager(prefix, '2001:db8::5').acquire();
    const resets: string[][] = [];
    const events: string[] = [];
    const w = new LeaseWatcher({ registry: new SubnetRegistry(lab.client, prefix, rec.log), ownSubnet: () => mine.subnet, log: rec.log,
      ipv6Rules: () => ({ network: V6ONLY.ipv6!.network, subnetLen: 64, ownSubnet: mine.ipv6Subnet ?? null, ownPublicIPv6: '2001:db8::4' }) });
    lab.onStop(() => w.stop());
    w.start({
      reset: (peers: Lease[]) => void resets.push(peers.map((l) => leaseName(l.subnet, l.ipv6Subnet))),
      events: (evts: LeaseEvent[]) => void events.push(...evts.map((e) => `${e.type} ${leaseName(e.lease.subnet, e.lease.ipv6Subnet)}`)),
    });
    await waitFor(() => resets.length === 1, { what: 'the snapshot' });
    assert.deepEqual(resets[0], [leaseName(theirs.subnet, theirs.ipv6Subnet)]);
    await lab.client.delete().key(`${prefix}/subnets/${subnetKey(theirs.subnet, theirs.ipv6Subnet)}`);
    await waitFor(() => events.length === 1, { what: 'the removal' });
    assert.deepEqual(events, [`removed ${leaseName(theirs.subnet, theirs.ipv6Subnet)}`]);
  });
});
