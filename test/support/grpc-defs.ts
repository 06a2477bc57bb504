// What a grpc-js client definition holds per method, as the etcd3 definition tests read it.

export interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName: string;
  requestSerialize(v: unknown): Buffer;
  /** Present in proto-loader's definitions; a client-only static definition may leave it out. */
  responseSerialize?(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
}

export type ServiceDefs = Record<string, Record<string, MethodDef>>;
