// The backend kit's pure parts: the peer diff (steps from updates, warnings once per lease), leftover detection,
// the VtepMAC clash rule, and the driver running backends' own posted work in line with peer updates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { BackendDriver } from '../../src/backend/driver.js';
import { findLeftovers } from '../../src/backend/kit/leftovers.js';
import { foreignBackendReason, PeerDiff, type PeerStep } from '../../src/backend/kit/peer-diff.js';
import { isVtepClash } from '../../src/backend/vxlan/lease-reading.js';
import { formatCidr, parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { RTN_UNICAST, TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute } from '../../src/netlink/routes.js';
import type { Lease } from '../../src/subnet/lease.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

const net = (cidr: string): Ipv4Net => parseCidr(cidr) as Ipv4Net;

function lease(cidr: string, backendType = 'host-gw', publicIP = '192.0.2.9'): Lease {
  return { subnet: net(cidr), attrs: { publicIP, publicIPv6: null, backendType }, expiration: null, etcdLeaseId: '0', revision: '1' };
}

const hostGwDiff = (log: pino.Logger): PeerDiff<Lease> => new PeerDiff((l) => {
  const reason = foreignBackendReason(l, 'host-gw');
  return reason === null ? { kind: 'peer', peer: l } : { kind: 'ignored', reason };
}, log);

test('peer diff: a reset removes what is no longer listed and sets every usable lease', () => {
  const { log } = recordingLogger('info');
  const steps = hostGwDiff(log).reset([lease('10.5.2.0/24'), lease('10.5.3.0/24', 'vxlan')], ['10.5.2.0/24', '10.5.4.0/24', '10.5.3.0/24']);
  assert.deepEqual(steps.map((s) => `${s.op} ${s.key}`), ['remove 10.5.4.0/24', 'remove 10.5.3.0/24', 'set 10.5.2.0/24']);
});

test('peer diff: applying the steps of any reset gives exactly the usable leases', () => {
  const { log } = recordingLogger('info');
  const subnet = fc.integer({ min: 0, max: 20 }).map((i) => `10.5.${i}.0/24`);
  fc.assert(fc.property(fc.uniqueArray(subnet), fc.array(fc.tuple(subnet, fc.boolean())), (held, listed) => {
    const leases = listed.map(([s, ours]) => lease(s, ours ? 'host-gw' : 'vxlan'));
    const have = new Map(held.map((k) => [k, true]));
    for (const step of hostGwDiff(log).reset(leases, held) as PeerStep<Lease>[]) {
      if (step.op === 'remove') have.delete(step.key);
      else have.set(step.key, true);
    }
    const lastByKey = new Map(leases.map((l) => [formatCidr(l.subnet), l.attrs.backendType === 'host-gw']));
    assert.deepEqual([...have.keys()].sort(), [...lastByKey].filter(([, ok]) => ok).map(([k]) => k).sort());
  }));
});

test('peer diff: a lease of another BackendType is warned about once, however often it is seen', () => {
  const { log, warnings } = recordingLogger('info');
  const diff = hostGwDiff(log);
  const foreign = lease('10.5.3.0/24', 'vxlan');
  diff.reset([foreign, lease('10.5.2.0/24')], []);
  diff.reset([foreign], []);
  assert.deepEqual(diff.events([{ type: 'added', lease: foreign }]).map((s) => s.op), ['remove']);
  assert.equal(warnings().length, 1);
  assert.match(warnings()[0]!, /lease 10\.5\.3\.0\/24 of 192\.0\.2\.9 has BackendType "vxlan", not host-gw/);
  // Once the lease is gone and comes back, it is news again.
  diff.events([{ type: 'removed', lease: foreign }, { type: 'added', lease: foreign }]);
  assert.equal(warnings().length, 2);
  assert.equal(diff.ignoredLeases, 4);
});

test('peer diff: a huge foreign value is cut in the warning', () => {
  const { log, warnings } = recordingLogger('info');
  hostGwDiff(log).reset([lease('10.5.3.0/24', 'x'.repeat(100_000))], []);
  assert.ok(warnings()[0]!.length < 500, `warning of ${warnings()[0]!.length} characters`);
  assert.match(warnings()[0]!, /characters\)$/);
});

test('peer diff: a lease with nothing for this backend (an IPv6 half\'s IPv4-only peer) removes, never warns', () => {
  const { log, warnings } = recordingLogger('info');
  const diff = new PeerDiff<Lease>((l) => (l.attrs.publicIP === '192.0.2.9' ? { kind: 'none' } : { kind: 'peer', peer: l }), log);
  const quiet = lease('10.5.3.0/24');
  const steps = diff.reset([quiet, lease('10.5.2.0/24', 'host-gw', '192.0.2.8')], ['10.5.3.0/24']);
  assert.deepEqual(steps.map((s) => `${s.op} ${s.key}`), ['remove 10.5.3.0/24', 'set 10.5.2.0/24']);
  assert.deepEqual(diff.events([{ type: 'added', lease: quiet }]).map((s) => s.op), ['remove']);
  assert.deepEqual(warnings(), []);
  assert.equal(diff.ignoredLeases, 0);
});

const route = (dst: string, oif: number, over: Partial<KernelRoute> = {}): KernelRoute => ({
  dst: net(dst), gateway: null, oif, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL, scope: 0, type: RTN_UNICAST,
  onlink: false, priority: null, prefsrc: null, ...over,
});

test('leftovers: unclaimed flannel devices and our routes in the Network, nothing of anyone else', () => {
  const links = [
    { index: 2, name: 'eth0', kind: null }, { index: 5, name: 'flannel.1', kind: 'tun' },
    { index: 6, name: 'flannel.2', kind: 'vxlan' }, { index: 7, name: 'flannel0', kind: 'tun' },
    { index: 8, name: 'flannelx', kind: 'bridge' },
  ];
  const routes = [
    route('10.5.2.0/24', 2, { gateway: 1 }), // host-gw's, not claimed by vxlan: leftover
    route('10.5.0.0/16', 5, { scope: 253 }), // on the claimed TUN: the current backend's
    route('10.5.0.0/16', 6), // on a leftover device: goes with it
    route('10.5.3.0/24', 2, { protocol: 4 }), // static: someone else's
    route('10.6.0.0/24', 2), // ours by protocol but outside the Network
    route('10.5.9.0/24', 2, { type: 6 }), // a blackhole (--ip-blackhole-route)
  ];
  const found = findLeftovers(links, routes, { devices: ['flannel.1'], ownsRoute: () => false }, net('10.5.0.0/16'));
  assert.deepEqual(found.devices.map((d) => d.name), ['flannel.2', 'flannel0']);
  assert.deepEqual(found.routes.map((r) => formatCidr(r.dst)), ['10.5.2.0/24']);
  const asHostGw = findLeftovers(links, routes, { devices: [], ownsRoute: (r) => r.oif === 2 }, net('10.5.0.0/16'));
  assert.deepEqual(asHostGw.devices.map((d) => d.name), ['flannel.1', 'flannel.2', 'flannel0']);
  assert.deepEqual(asHostGw.routes, []);
});

test('VtepMAC clash: our MAC published from another PublicIP, never from our own', () => {
  const peer = { subnet: net('10.5.2.0/24'), key: '10.5.2.0/24', subnetIP: '10.5.2.0', publicIP: '192.0.2.2', vtepMac: '02:00:00:00:00:01', vni: 1 };
  assert.equal(isVtepClash(peer, { publicIP: '192.0.2.1', vtepMac: '02:00:00:00:00:01' }), true);
  assert.equal(isVtepClash(peer, { publicIP: '192.0.2.2', vtepMac: '02:00:00:00:00:01' }), false);
  assert.equal(isVtepClash(peer, { publicIP: '192.0.2.1', vtepMac: '02:00:00:00:00:02' }), false);
});

test('driver: work a backend posts runs between peer updates, never alongside one, and run() returns results', async () => {
  const { log } = recordingLogger('info');
  let active = 0;
  const calls: string[] = [];
  const busy = async (what: string): Promise<void> => {
    assert.equal(active++, 0, `${what} overlapped`);
    calls.push(what);
    await new Promise((r) => setTimeout(r, 2));
    active--;
  };
  const driver = new BackendDriver({
    resetPeers: () => busy('reset'), handleEvents: () => busy('events'),
  }, log);
  driver.update({ kind: 'reset', peers: [] });
  driver.post('resync', () => busy('resync'));
  driver.post('broken', () => Promise.reject(new Error('logged, not thrown')));
  driver.update({ kind: 'events', events: [] });
  assert.equal(await driver.run('register', async () => { await busy('register'); return 42; }), 42);
  await assert.rejects(driver.run('start', () => Promise.reject(new Error('start failed'))), /start failed/);
  await driver.drain();
  assert.deepEqual(calls, ['reset', 'resync', 'events', 'register']);
});
