// The etcd3 patch (patches/etcd3+1.1.2.patch) replaces etcd3's parse of its .proto files at every start with a JSON
// descriptor made once (scripts/etcd3-descriptor.js). These check that the JSON in the patch is still what a parse of
// the installed etcd3's .proto files gives, and that gRPC gets the same methods and wire bytes from it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { MethodDef, ServiceDefs } from '../support/grpc-defs.js';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PATCH = path.join(ROOT, 'patches', 'etcd3+1.1.2.patch');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { etcd3Descriptor } = require(path.join(ROOT, 'scripts', 'etcd3-descriptor.js')) as { etcd3Descriptor(): object };

/** The rpc.json the patch creates: the one added line of its new-file hunk. */
function descriptorInPatch(): unknown {
  const text = fs.readFileSync(PATCH, 'utf8');
  const hunk = text.split(/^diff --git /m).find((h) => h.startsWith('a/node_modules/etcd3/proto/rpc.json'));
  assert.ok(hunk, 'the patch adds node_modules/etcd3/proto/rpc.json');
  const added = hunk.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'));
  assert.equal(added.length, 1, 'rpc.json is one line');
  return JSON.parse(added[0]!.slice(1));
}


const ETCD3_DIR = path.dirname(require.resolve('etcd3/package.json'));
const fromEtcd3 = createRequire(require.resolve('etcd3'));
const loader = fromEtcd3('@grpc/proto-loader') as { loadSync(file: string, o: object): ServiceDefs };
/** The patch's definitions builder, as installed (npm ci's postinstall applies patches/). */
function patchedDefinition(): (json: unknown, o: object) => ServiceDefs {
  const file = path.join(ETCD3_DIR, 'lib', 'client-definition.js');
  assert.ok(fs.existsSync(file), `${file} is missing: etcd3 is not patched (npm ci applies patches/ in postinstall)`);
  return (fromEtcd3(file) as { clientDefinition: (json: unknown, o: object) => ServiceDefs }).clientDefinition;
}
// What etcd3 asks for (lib/connection-pool.js).
const ETCD3_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

describe('etcd3 gRPC definitions from build-time JSON', () => {
  it('the JSON in the patch equals a fresh parse of the installed etcd3 .proto files', () => {
    assert.deepEqual(descriptorInPatch(), JSON.parse(JSON.stringify(etcd3Descriptor())));
  });

  it('gives grpc-js the same services, method names and wire format as proto-loader parsing the .proto files', () => {
    const parsed = loader.loadSync(path.join(ETCD3_DIR, 'proto', 'rpc.proto'), ETCD3_OPTIONS);
    const lean = patchedDefinition()(descriptorInPatch(), ETCD3_OPTIONS);
    const services = Object.keys(parsed)
      .filter((k) => Object.values(parsed[k] ?? {}).some((m) => typeof (m as Partial<MethodDef>).path === 'string'));
    assert.deepEqual(Object.keys(lean).sort(), services.sort());
    assert.ok(services.includes('etcdserverpb.KV') && services.includes('etcdserverpb.Watch'));
    for (const s of services) {
      assert.deepEqual(Object.keys(lean[s]!).sort(), Object.keys(parsed[s]!).sort(), s);
      for (const [name, m] of Object.entries(parsed[s]!)) {
        const l = lean[s]![name]!;
        assert.deepEqual([l.path, l.requestStream, l.responseStream, l.originalName],
          [m.path, m.requestStream, m.responseStream, m.originalName], `${s}.${name}`);
      }
    }
    const kv = (d: ServiceDefs) => d['etcdserverpb.KV']!;
    const put = { key: Buffer.from('/coreos.com/network/subnets/10.5.1.0-24'), value: Buffer.from('{"PublicIP":"192.0.2.1"}'),
      lease: '7587862072468862977', prev_kv: true };
    assert.deepEqual(kv(lean).Put!.requestSerialize(put), kv(parsed).Put!.requestSerialize(put));
    const range = { header: { cluster_id: '14841639068965178418', revision: '9007199254740993', raft_term: '2' },
      kvs: [{ key: Buffer.from('/k'), value: Buffer.from('v'), create_revision: '5', mod_revision: '7', version: '2', lease: '0' }],
      more: false, count: '1' };
    const bytes = kv(parsed).Range!.responseSerialize!(range);
    assert.deepEqual(kv(lean).Range!.responseDeserialize(bytes), kv(parsed).Range!.responseDeserialize(bytes));
    assert.equal((kv(lean).Range!.responseDeserialize(bytes) as { header: { revision: string } }).header.revision,
      '9007199254740993', 'int64 as an exact string');
  });
});
