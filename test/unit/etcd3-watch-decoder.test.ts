// The watch stream's own decoder (scripts/etcd3-watch-decoder.js, written into the static etcd coders) against
// protobufjs: for random WatchResponses encoded by reflection of etcd's .proto files, it must give exactly what
// protobufjs's decode + toObject with etcd3's options gives, and what the generated generic coder gave before it;
// for every cut of those bytes it must fail where they fail and agree where they succeed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import * as path from 'node:path';
import fc from 'fast-check';
import { etcdType, protoWriter, REPO_ROOT, type ProtoCoder, type ProtoWriter } from '../support/etcd-proto.js';

/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const { etcd3CodersSource } = require(path.join(REPO_ROOT, 'scripts', 'etcd3-coders.js')) as { etcd3CodersSource(): string };
const WatchResponse = etcdType('WatchResponse');

interface Coders {
  decodeWatchResponse(b: Buffer): unknown;
  types: Record<string, ProtoCoder>;
  clientDefinition(o: object): Record<string, Record<string, { responseDeserialize(b: Buffer): unknown }>>;
}
function loadCoders(): Coders {
  const file = path.join(REPO_ROOT, 'dist', 'etcd3-coders.watch-test-copy.js');
  const m = new Module(file) as Module & { _compile(src: string, file: string): void; paths: string[] };
  m.filename = file;
  m.paths = (Module as unknown as { _nodeModulePaths(d: string): string[] })._nodeModulePaths(REPO_ROOT);
  m._compile(etcd3CodersSource(), file);
  return m.exports as Coders;
}

// What etcd3 asks for (lib/connection-pool.js).
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
// Revisions and lease IDs are mostly small, sometimes beyond 2^53 or negative (int64), cluster IDs mostly huge.
const int64 = fc.oneof(fc.bigInt(0n, 2n ** 53n), fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n)).map(String);
const uint64 = fc.oneof(fc.bigInt(0n, 2n ** 53n), fc.bigInt(0n, 2n ** 64n - 1n)).map(String);
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const keyValue = fc.record({
  key: bytes, create_revision: int64, mod_revision: int64, version: int64, value: bytes, lease: int64,
}, { requiredKeys: [] });
const event = fc.record({
  // An event type this etcd3 does not know stays a number, as protobufjs leaves it.
  type: fc.oneof(fc.constantFrom('Put', 'Delete'), fc.integer({ min: -3, max: 5 })),
  kv: keyValue, prev_kv: keyValue,
}, { requiredKeys: [] });
const header = fc.record({ cluster_id: uint64, member_id: uint64, revision: int64, raft_term: uint64 }, { requiredKeys: [] });
const response = fc.record({
  header, watch_id: int64, created: fc.boolean(), canceled: fc.boolean(), compact_revision: int64,
  cancel_reason: fc.string(), fragment: fc.boolean(), events: fc.array(event, { maxLength: 12 }),
}, { requiredKeys: [] });
/** Fields a newer etcd may add (unknown numbers, every wire type), appended as protobuf permits. */
const unknownFields = fc.array(fc.oneof(
  fc.tuple(fc.integer({ min: 12, max: 200 }), int64).map(([n, v]) => (w: ProtoWriter) => w.uint32(n << 3).int64(v)),
  fc.tuple(fc.integer({ min: 12, max: 200 }), bytes).map(([n, v]) => (w: ProtoWriter) => w.uint32((n << 3) | 2).bytes(v)),
  fc.tuple(fc.integer({ min: 12, max: 200 }), uint64).map(([n, v]) => (w: ProtoWriter) => w.uint32((n << 3) | 1).fixed64(v)),
  fc.tuple(fc.integer({ min: 12, max: 200 }), fc.nat()).map(([n, v]) => (w: ProtoWriter) => w.uint32((n << 3) | 5).fixed32(v)),
), { maxLength: 3 });

function encoded(v: object, extra: Array<(w: ProtoWriter) => ProtoWriter> = []): Buffer {
  const main = WatchResponse.encode(WatchResponse.fromObject(v)).finish();
  const w = protoWriter();
  for (const f of extra) f(w);
  return Buffer.concat([main, w.finish()]);
}
const reflected = (b: Buffer): unknown => WatchResponse.toObject(WatchResponse.decode(b), OPTIONS);
const outcome = (f: () => unknown): { ok: unknown } | { failed: true } => {
  try {
    return { ok: f() };
  } catch {
    return { failed: true };
  }
};

describe('the watch stream\'s decoder', () => {
  const coders = loadCoders();
  const generic = coders.types['etcdserverpb.WatchResponse']!;

  it('gives what protobufjs reflection and the generic static coder give, for random WatchResponses', () => {
    fc.assert(fc.property(response, unknownFields, (v, extra) => {
      const b = encoded(v, extra);
      const fast = coders.decodeWatchResponse(b);
      assert.deepEqual(fast, reflected(b));
      assert.deepEqual(fast, generic.toObject(generic.decode(b), OPTIONS));
    }), { numRuns: 400 });
  });

  it('is what the Watch method deserializes with under etcd3\'s options, and only then', () => {
    const b = encoded({ header: { revision: '7' }, events: [{ kv: { key: Buffer.from('k'), mod_revision: '7' } }] });
    const watch = (o: object) => coders.clientDefinition(o)['etcdserverpb.Watch']!['Watch']!.responseDeserialize;
    assert.equal(watch(OPTIONS), coders.decodeWatchResponse);
    const other = { ...OPTIONS, longs: Number };
    assert.notEqual(watch(other), coders.decodeWatchResponse);
    assert.deepEqual(watch(other)(b), WatchResponse.toObject(WatchResponse.decode(b), other));
  });

  // gRPC frames each message, so a cut one never reaches a decoder; still, a cut must not pass for something else.
  // (protobufjs takes a 64-bit varint cut after 4 of its bytes at the very end as whole; this decoder refuses it.)
  it('fails on every cut of a response where protobufjs fails, and agrees where both decode it', () => {
    fc.assert(fc.property(response.filter((v) => (v.events?.length ?? 0) > 0), fc.nat(), (v, at) => {
      const b = encoded(v);
      const cut = b.subarray(0, at % b.length);
      const fast = outcome(() => coders.decodeWatchResponse(cut));
      const slow = outcome(() => reflected(cut));
      if ('failed' in slow) assert.deepEqual(fast, slow);
      else if ('ok' in fast) assert.deepEqual(fast, slow);
    }), { numRuns: 300 });
  });

  it('reads a Uint8Array that is not a Buffer, and keeps a revision above 2^53 exact', () => {
    const b = encoded({ header: { revision: '9007199254740993', cluster_id: '18446744073709551615' },
      events: [{ type: 'Delete', kv: { mod_revision: '9007199254740993', lease: '-1' } }] });
    const out = coders.decodeWatchResponse(new Uint8Array(b) as Buffer) as {
      header: { revision: string; cluster_id: string }; events: Array<{ type: string; kv: { mod_revision: string; lease: string } }>;
    };
    assert.equal(out.header.revision, '9007199254740993');
    assert.equal(out.header.cluster_id, '18446744073709551615');
    assert.deepEqual([out.events[0]!.type, out.events[0]!.kv.mod_revision, out.events[0]!.kv.lease], ['Delete', '9007199254740993', '-1']);
  });
});
