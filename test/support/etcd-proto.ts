// etcd's own .proto messages through protobufjs reflection (the copy etcd3's proto-loader uses), for tests that hold
// hand-written etcd coders (the bench writer's, the watch decoder) to the reference.
import Module from 'node:module';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface ProtoCoder {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromObject(o: unknown): unknown;
  toObject(m: unknown, o: object): unknown;
}

export interface ProtoWriter {
  uint32(v: number): ProtoWriter;
  int64(v: string): ProtoWriter;
  bytes(v: Uint8Array): ProtoWriter;
  fixed64(v: string): ProtoWriter;
  fixed32(v: number): ProtoWriter;
  finish(): Uint8Array;
}

/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const { etcd3Descriptor } = require(path.join(REPO_ROOT, 'scripts', 'etcd3-descriptor.js')) as { etcd3Descriptor(): object };
const fromLoader = Module.createRequire(require.resolve('@grpc/proto-loader', { paths: [require.resolve('etcd3')] }));
const protobuf = fromLoader('protobufjs') as {
  Root: { fromJSON(j: object): { lookupType(n: string): ProtoCoder } };
  Writer: { create(): ProtoWriter };
};
const root = protobuf.Root.fromJSON(etcd3Descriptor());

/** The reflected coder of `etcdserverpb.<name>`. */
export function etcdType(name: string): ProtoCoder {
  return root.lookupType(`etcdserverpb.${name}`);
}

/** A raw protobuf writer, for messages reflection would refuse to write (unknown fields, odd wire types). */
export function protoWriter(): ProtoWriter {
  return protobuf.Writer.create();
}
