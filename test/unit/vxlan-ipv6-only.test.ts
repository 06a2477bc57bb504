import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVxlanBackend } from '../../src/backend/vxlan/index.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import type { BackendContext } from '../../src/backend/backend.js';

const V6ONLY = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:70::/56","Backend":{"Type":"vxlan"}}');

test('the userspace vxlan datapath refuses an IPv6-only network with one line naming --vxlan-datapath kernel', () => {
  const ctx = { network: V6ONLY } as unknown as BackendContext;
  for (const settings of [{ vxlan: { datapath: 'userspace' as const } }, {}]) {
    assert.throws(() => createVxlanBackend(ctx, settings), (err: Error) => {
      assert.match(err.message, /IPv6-only networks \(EnableIPv4 false\).*userspace vxlan datapath.*--vxlan-datapath kernel$/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  }
});
