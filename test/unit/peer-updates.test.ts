import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { coalescePeerUpdates, type PeerUpdate } from '../../src/backend/peer-updates.js';
import type { Lease, LeaseEvent } from '../../src/subnet/lease.js';

function lease(third: number): Lease {
  return { subnet: { ip: ((10 << 24) | (third << 8)) >>> 0, prefixLen: 24 }, attrs: { publicIP: `192.0.2.${third}`, publicIPv6: null },
    expiration: null, etcdLeaseId: '0', revision: String(third) };
}

/** Applies updates to a peer map the way a backend converges: the outcome coalescing must preserve. */
function apply(updates: readonly PeerUpdate[]): Map<number, string> {
  const peers = new Map<number, string>();
  for (const u of updates) {
    if (u.kind === 'reset') {
      peers.clear();
      for (const l of u.peers) peers.set(l.subnet.ip, l.attrs.publicIP);
    } else {
      for (const e of u.events) {
        if (e.type === 'added') peers.set(e.lease.subnet.ip, e.lease.attrs.publicIP);
        else peers.delete(e.lease.subnet.ip);
      }
    }
  }
  return peers;
}

test('consecutive event lists merge in order; a reset drops what came before it', () => {
  const a: LeaseEvent = { type: 'added', lease: lease(1) };
  const b: LeaseEvent = { type: 'removed', lease: lease(1) };
  const c: LeaseEvent = { type: 'added', lease: lease(2) };
  assert.deepEqual(coalescePeerUpdates([{ kind: 'events', events: [a] }, { kind: 'events', events: [b, c] }]),
    [{ kind: 'events', events: [a, b, c] }]);
  const reset: PeerUpdate = { kind: 'reset', peers: [lease(3)] };
  assert.deepEqual(coalescePeerUpdates([{ kind: 'events', events: [a] }, reset, { kind: 'events', events: [c] }]),
    [reset, { kind: 'events', events: [c] }]);
});

test('coalescing never changes the peer set the updates lead to, and leaves at most one event list after a reset', () => {
  const event = fc.record({ type: fc.constantFrom('added' as const, 'removed' as const), third: fc.integer({ min: 1, max: 6 }) })
    .map(({ type, third }): LeaseEvent => ({ type, lease: lease(third) }));
  const update = fc.oneof(
    fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 4 }).map((ts): PeerUpdate => ({ kind: 'reset', peers: ts.map(lease) })),
    fc.array(event, { minLength: 1, maxLength: 4 }).map((events): PeerUpdate => ({ kind: 'events', events })),
  );
  fc.assert(fc.property(fc.array(update, { maxLength: 12 }), (updates) => {
    const merged = coalescePeerUpdates(updates);
    assert.deepEqual(apply(merged), apply(updates));
    assert.ok(merged.length <= 2);
  }));
});

test('the driver runs one backend call at a time and merges updates that queue behind it', async () => {
  const calls: string[] = [];
  let active = 0;
  const recordingBackend = {
    register: async () => ({ backendType: 'test', mtu: 1500 }),
    start: async () => undefined,
    stop: async () => undefined,
    counters: () => ({}),
    resetPeers: async (peers: readonly Lease[]) => {
      assert.equal(active++, 0);
      calls.push(`reset ${peers.length}`);
      await new Promise((r) => setTimeout(r, 5));
      active--;
    },
    handleEvents: async (events: readonly LeaseEvent[]) => {
      assert.equal(active++, 0);
      calls.push(`events ${events.map((e) => e.lease.revision).join(',')}`);
      await new Promise((r) => setTimeout(r, 5));
      active--;
    },
  };
  const { BackendDriver } = await import('../../src/backend/driver.js');
  const { log } = await import('../../src/log.js');
  const driver = new BackendDriver(recordingBackend, log);
  driver.update({ kind: 'reset', peers: [lease(1)] });
  for (let i = 2; i <= 6; i++) driver.update({ kind: 'events', events: [{ type: 'added', lease: lease(i) }] });
  await driver.drain();
  assert.deepEqual(calls, ['reset 1', 'events 2,3,4,5,6']);
});
