import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVxlanBackend } from '../../src/backend/vxlan/index.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import type { BackendContext } from '../../src/backend/backend.js';
import { log } from '../../src/log.js';

const V6ONLY = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:70::/56","Backend":{"Type":"vxlan"}}');
const EXT = { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '0.0.0.0', extAddr: '0.0.0.0', extAddr6: '2001:db8::11' };

test('an IPv6-only network runs on either vxlan datapath with flannel-v6.<VNI> alone', () => {
  for (const settings of [{ vxlan: { datapath: 'userspace' as const } }, {}, { vxlan: { datapath: 'kernel' as const } }]) {
    const ctx = { network: V6ONLY, extIface: EXT, stateDir: '/nonexistent', log } as unknown as BackendContext;
    assert.deepEqual(createVxlanBackend(ctx, settings).claims().devices, ['flannel-v6.1'], JSON.stringify(settings));
  }
});

test('without an IPv6 external address the IPv6-only vxlan backend says so in one line naming --public-ipv6', () => {
  const ctx = { network: V6ONLY, extIface: { ...EXT, extAddr6: null }, stateDir: '/nonexistent', log } as unknown as BackendContext;
  for (const settings of [{ vxlan: { datapath: 'userspace' as const } }, { vxlan: { datapath: 'kernel' as const } }]) {
    assert.throws(() => createVxlanBackend(ctx, settings), (err: Error) => {
      assert.match(err.message, /IPv6-only network .*--public-ipv6/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  }
});

test('an IPv6SubnetLen over 64 is refused by the userspace datapath before any lease, in one line naming the fix', () => {
  const network = parseNetworkConfig('{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:70::/56","IPv6SubnetLen":80,"Backend":{"Type":"vxlan"}}');
  const ctx = { network, extIface: EXT, stateDir: '/nonexistent', log } as unknown as BackendContext;
  assert.throws(() => createVxlanBackend(ctx, { vxlan: { datapath: 'userspace' } }),
    /^Error: IPv6SubnetLen 80 is not supported by the userspace vxlan datapath .*: set IPv6SubnetLen to 64 or run --vxlan-datapath kernel$/);
  assert.deepEqual(createVxlanBackend(ctx, { vxlan: { datapath: 'kernel' } }).claims().devices, ['flannel.1', 'flannel-v6.1']);
});
