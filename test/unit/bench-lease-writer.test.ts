// The bench lease writer's hand-coded etcd requests (bench/agents/etcd-wire.ts) against protobufjs reflection of
// etcd's own .proto files, and how it spreads its puts in flight over its connections (bench/agents/writer-plan.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { grpcFrame, grpcMessage, leaseGrantId, leaseGrantRequest, putRequest } from '../../bench/agents/etcd-wire.js';
import { writerSlots } from '../../bench/agents/writer-plan.js';
import { etcdType, type ProtoCoder } from '../support/etcd-proto.js';

const asObject = (t: ProtoCoder, bytes: Uint8Array): Record<string, unknown> =>
  t.toObject(t.decode(bytes), { longs: String, bytes: String, defaults: false }) as Record<string, unknown>;

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

describe('lease writer: etcd wire coding', () => {
  it('a PutRequest decodes to the key, the value and the lease it was coded with', () => {
    fc.assert(fc.property(fc.string(), fc.string({ maxLength: 400 }), int64, (key, value, lease) => {
      const o = asObject(etcdType('PutRequest'), putRequest(key, value, lease));
      assert.equal(Buffer.from((o.key as string | undefined) ?? '', 'base64').toString(), key);
      assert.equal(Buffer.from((o.value as string | undefined) ?? '', 'base64').toString(), value);
      assert.equal(BigInt((o.lease as string | undefined) ?? '0'), lease);
    }));
  });

  it('a LeaseGrantRequest carries the TTL', () => {
    assert.equal(asObject(etcdType('LeaseGrantRequest'), leaseGrantRequest(86400)).TTL, '86400');
  });

  it('reads the ID of any LeaseGrantResponse, header and error around it', () => {
    const t = etcdType('LeaseGrantResponse');
    fc.assert(fc.property(int64, fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), fc.string(), (id, rev, error) => {
      const bytes = t.encode(t.fromObject({ header: { revision: rev.toString(), cluster_id: '7' }, ID: id.toString(),
        TTL: '86400', error })).finish();
      assert.equal(leaseGrantId(Buffer.from(bytes)), id);
    }));
  });

  it('a truncated or ID-less LeaseGrantResponse gives no ID', () => {
    const t = etcdType('LeaseGrantResponse');
    const full = Buffer.from(t.encode(t.fromObject({ ID: '1234567890123', TTL: '60' })).finish());
    assert.equal(leaseGrantId(full.subarray(0, 3)), null);
    assert.equal(leaseGrantId(Buffer.from(t.encode(t.fromObject({ TTL: '60' })).finish())), null);
  });

  it('frames a message for gRPC and reads it back only whole', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (m) => {
      const f = grpcFrame(Buffer.from(m));
      assert.deepEqual(grpcMessage(f), Buffer.from(m));
      assert.equal(f.readUInt32BE(1), m.length);
      assert.equal(grpcMessage(f.subarray(0, f.length - 1)), null);
    }));
    assert.equal(grpcMessage(Buffer.from([1, 0, 0, 0, 0])), null, 'a compressed frame is not read');
  });
});

describe('lease writer: puts in flight per connection', () => {
  it('shares every put in flight, evenly, over at most as many connections as puts', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 64 }), (inFlight, clients) => {
      const s = writerSlots(inFlight, clients);
      assert.equal(s.reduce((a, b) => a + b, 0), inFlight);
      assert.equal(s.length, Math.min(inFlight, clients));
      assert.ok(Math.max(...s) - Math.min(...s) <= 1);
    }));
    assert.deepEqual(writerSlots(64, 3), [22, 21, 21]);
  });

  it('counts a bad figure as 1', () => {
    assert.deepEqual(writerSlots(Number.NaN, 4), [1]);
    assert.deepEqual(writerSlots(8, 0), [8]);
  });
});
