import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../src/backend/all.js';
import { createBackend, supportedBackends } from '../../src/backend/registry.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { log } from '../../src/log.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import type { Lease } from '../../src/subnet/lease.js';

const extIface = { name: 'eth0', index: 2, mtu: 1432, ifaceAddr: '192.0.2.7', extAddr: '192.0.2.7' };
const ctx = { extIface, network: parseNetworkConfig('{"Network":"10.0.0.0/16","Backend":{"Type":"alloc"}}'),
  stateDir: '/nonexistent', log };

function lease(cidr: string): Lease {
  return { subnet: parseCidr(cidr) as Ipv4Net, attrs: { publicIP: '192.0.2.9', publicIPv6: null }, expiration: null,
    etcdLeaseId: '0', revision: '1' };
}

test('alloc is registered, case-insensitively', () => {
  assert.ok(supportedBackends().includes('alloc'));
  assert.ok(createBackend('ALLOC', ctx));
});

test('alloc publishes BackendType alloc, no BackendData, the external MTU', async () => {
  const b = createBackend('alloc', ctx);
  assert.ok(b);
  assert.deepEqual(await b.register(), { backendType: 'alloc', mtu: 1432 });
});

test('alloc counts peers by subnet; a changed lease is not a new peer', async () => {
  const b = createBackend('alloc', ctx);
  assert.ok(b);
  await b.start(lease('10.0.1.0/24'));
  await b.resetPeers([lease('10.0.2.0/24'), lease('10.0.3.0/24')]);
  await b.handleEvents([{ type: 'added', lease: lease('10.0.3.0/24') }, { type: 'added', lease: lease('10.0.4.0/24') },
    { type: 'removed', lease: lease('10.0.2.0/24') }]);
  assert.deepEqual(b.counters(), { peers: 2 });
  await b.stop();
});
