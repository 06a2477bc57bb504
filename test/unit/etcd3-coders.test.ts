// The bundle's static etcd coders (scripts/etcd3-coders.js, put in place of etcd3's client definition by
// scripts/bundle.js) against protobufjs reflection of the same .proto files: the same methods, the same bytes for
// every request, the same objects for every response, for random messages of every type the methods reach.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import * as path from 'node:path';
import fc from 'fast-check';
import type { ServiceDefs } from '../support/grpc-defs.js';

const ROOT = path.resolve(__dirname, '..', '..', '..');
/* eslint-disable @typescript-eslint/no-require-imports */
const { etcd3CodersSource } = require(path.join(ROOT, 'scripts', 'etcd3-coders.js')) as { etcd3CodersSource(): string };
const { etcd3Descriptor } = require(path.join(ROOT, 'scripts', 'etcd3-descriptor.js')) as { etcd3Descriptor(): object };
/* eslint-enable @typescript-eslint/no-require-imports */
const fromLoader = Module.createRequire(require.resolve('@grpc/proto-loader', { paths: [require.resolve('etcd3')] }));

interface ReflectedField { name: string; type: string; repeated: boolean; resolvedType: unknown; partOf: { name: string } | null }
interface ReflectedType {
  fullName: string;
  fieldsArray: ReflectedField[];
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: object): unknown;
}
interface Protobuf {
  Root: { fromJSON(j: object): { resolveAll(): void; lookupService(n: string): { methodsArray: Array<{ name: string; resolvedRequestType: ReflectedType; resolvedResponseType: ReflectedType; requestStream?: boolean; responseStream?: boolean }> } } };
  Type: new (...a: never[]) => ReflectedType;
  Enum: new (...a: never[]) => { values: Record<string, number> };
}
const protobuf = fromLoader('protobufjs') as Protobuf;


/** The generated module, compiled as the bundle would run it (its protobufjs/minimal from the package's tree). */
function loadCoders(): { clientDefinition(o: object): ServiceDefs } {
  const file = path.join(ROOT, 'dist', 'etcd3-coders.test-copy.js');
  const m = new Module(file) as Module & { _compile(src: string, file: string): void; paths: string[] };
  m.filename = file;
  m.paths = (Module as unknown as { _nodeModulePaths(d: string): string[] })._nodeModulePaths(ROOT);
  m._compile(etcd3CodersSource(), file);
  return m.exports as { clientDefinition(o: object): ServiceDefs };
}

// What etcd3 asks for (lib/connection-pool.js).
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const int64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map(String);
const uint64 = fc.bigInt(0n, 2n ** 64n - 1n).map(String);
const SCALARS: Record<string, fc.Arbitrary<unknown>> = {
  int64, sint64: int64, sfixed64: int64, uint64, fixed64: uint64,
  int32: fc.integer(), sint32: fc.integer(), sfixed32: fc.integer(),
  uint32: fc.nat({ max: 2 ** 32 - 1 }), fixed32: fc.nat({ max: 2 ** 32 - 1 }),
  bool: fc.boolean(), string: fc.string(), bytes: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
  double: fc.double({ noNaN: true }), float: fc.float({ noNaN: true, noDefaultInfinity: true }),
};

/** Random plain objects of `type` as etcd3 hands them to gRPC: any field may be missing, one member per oneof. */
function messageOf(type: ReflectedType, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of type.fieldsArray) {
    let one: fc.Arbitrary<unknown> | null;
    if (f.resolvedType instanceof protobuf.Enum) one = fc.constantFrom(...Object.keys((f.resolvedType as { values: object }).values));
    else if (f.resolvedType instanceof protobuf.Type) one = depth > 0 ? messageOf(f.resolvedType as ReflectedType, depth - 1) : null;
    else one = SCALARS[f.type] ?? null;
    assert.ok(one !== null || f.resolvedType instanceof protobuf.Type, `no generator for ${type.fullName}.${f.name} (${f.type})`);
    if (one !== null) fields[f.name] = f.repeated ? fc.array(one, { maxLength: 3 }) : one;
  }
  return fc.record(fields, { requiredKeys: [] }).map((o) => {
    const taken = new Set<string>();
    for (const f of type.fieldsArray) {
      if (f.partOf === null || !(f.name in o)) continue;
      if (taken.has(f.partOf.name)) delete o[f.name];
      else taken.add(f.partOf.name);
    }
    return o;
  });
}

describe('static etcd coders (the bundle\'s) against protobufjs reflection', () => {
  const root = protobuf.Root.fromJSON(etcd3Descriptor());
  root.resolveAll();
  const definition = loadCoders().clientDefinition(OPTIONS);
  const services = Object.keys(definition);

  it('has every etcd service and method, with the paths, streaming and names grpc-js gets from the .proto files', () => {
    assert.ok(services.includes('etcdserverpb.KV') && services.includes('etcdserverpb.Lease') && services.includes('etcdserverpb.Watch'));
    for (const s of services) {
      const reflected = root.lookupService(s).methodsArray;
      assert.deepEqual(Object.keys(definition[s]!).sort(), reflected.map((m) => m.name).sort(), s);
      for (const m of reflected) {
        const d = definition[s]![m.name]!;
        assert.deepEqual([d.path, d.requestStream, d.responseStream, d.originalName],
          [`/${s}/${m.name}`, !!m.requestStream, !!m.responseStream, m.name.charAt(0).toLowerCase() + m.name.slice(1)]);
      }
    }
  });

  for (const s of ['etcdserverpb.KV', 'etcdserverpb.Lease', 'etcdserverpb.Watch', 'etcdserverpb.Cluster', 'etcdserverpb.Maintenance', 'etcdserverpb.Auth']) {
    it(`${s}: every request encodes to the same bytes, every response decodes to the same object`, () => {
      for (const m of root.lookupService(s).methodsArray) {
        const d = definition[s]![m.name]!;
        const req = m.resolvedRequestType;
        const res = m.resolvedResponseType;
        fc.assert(fc.property(messageOf(req, 3), (v) => {
          assert.deepEqual(d.requestSerialize(v), Buffer.from(req.encode(req.fromObject(v)).finish()), `${m.name} request`);
        }), { numRuns: 60 });
        fc.assert(fc.property(messageOf(res, 3), (v) => {
          const bytes = Buffer.from(res.encode(res.fromObject(v)).finish());
          assert.deepEqual(d.responseDeserialize(bytes), res.toObject(res.decode(bytes), OPTIONS), `${m.name} response`);
        }), { numRuns: 60 });
      }
    });
  }

  it('keeps int64 values exact (lease IDs and revisions above 2^53)', () => {
    const grant = definition['etcdserverpb.Lease']!.LeaseGrant!;
    const type = root.lookupService('etcdserverpb.Lease').methodsArray.find((m) => m.name === 'LeaseGrant')!.resolvedResponseType;
    const bytes = Buffer.from(type.encode(type.fromObject({ ID: '7587862072468862977', TTL: '86400' })).finish());
    assert.deepEqual((grant.responseDeserialize(bytes) as { ID: string }).ID, '7587862072468862977');
  });
});
