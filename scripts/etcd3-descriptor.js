#!/usr/bin/env node
// etcd3 parses its .proto files (36 KiB of text) with protobufjs every time the daemon starts (~50 ms of a ~150 ms
// budget). Our patch to etcd3 (patches/etcd3+1.1.2.patch) hands @grpc/proto-loader this file's output instead: the
// same definitions as protobufjs JSON, parsed once here. `node scripts/etcd3-descriptor.js` prints it; the unit test
// test/unit/etcd3-descriptor.test.ts checks that the patched copy still equals a fresh parse of etcd3's .proto files.
'use strict';
const path = require('node:path');

/** The parse proto-loader's loadSync does (keepCase, as etcd3 asks), as protobufjs JSON. */
function etcd3Descriptor(from = __dirname) {
  const protobuf = require(require.resolve('protobufjs', { paths: [path.dirname(require.resolve('@grpc/proto-loader', { paths: [from] }))] }));
  const rpc = path.join(path.dirname(require.resolve('etcd3/package.json', { paths: [from] })), 'proto', 'rpc.proto');
  const root = new protobuf.Root();
  root.loadSync(rpc, { keepCase: true });
  root.resolveAll();
  return root.toJSON();
}

module.exports = { etcd3Descriptor };

if (require.main === module) process.stdout.write(`${JSON.stringify(etcd3Descriptor())}\n`);
