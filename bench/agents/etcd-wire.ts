// The two etcd v3 requests the lease writer sends, coded by hand for gRPC over HTTP/2 (etcd's rpc.proto:
// PutRequest {key = 1, value = 2, lease = 3}, LeaseGrantRequest {TTL = 1}, LeaseGrantResponse {ID = 2}), so a
// burst of puts costs the writer an HTTP/2 stream each and not a gRPC client's per-call machinery. Pure.

function varint(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

function bytesField(field: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(BigInt(data.length))]), data]);
}

function varintField(field: number, v: bigint): Buffer {
  return Buffer.from([field << 3, ...varint(v)]);
}

/** A gRPC message on the wire: uncompressed flag, 4-byte big-endian length, the message. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** etcdserverpb.PutRequest with a key, a value and the lease the key is attached to. */
export function putRequest(key: string, value: string, lease: bigint): Buffer {
  return Buffer.concat([bytesField(1, Buffer.from(key)), bytesField(2, Buffer.from(value)), varintField(3, lease)]);
}

/** etcdserverpb.LeaseGrantRequest for a TTL in seconds (ID 0: etcd chooses). */
export function leaseGrantRequest(ttlSeconds: number): Buffer {
  return varintField(1, BigInt(ttlSeconds));
}

/** Reads a varint at `pos`; returns it and the position after it, or null when the buffer ends inside it. */
function readVarint(buf: Buffer, pos: number): { value: bigint; next: number } | null {
  let value = 0n;
  for (let shift = 0n, i = pos; i < buf.length && shift < 70n; i++, shift += 7n) {
    const b = buf[i] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: BigInt.asIntN(64, value), next: i + 1 };
  }
  return null;
}

/** The message of a unary gRPC response body (one frame), or null when the body is not one whole frame. */
export function grpcMessage(body: Buffer): Buffer | null {
  if (body.length < 5 || body[0] !== 0) return null;
  const len = body.readUInt32BE(1);
  return body.length === 5 + len ? body.subarray(5) : null;
}

/** The ID field of an etcdserverpb.LeaseGrantResponse, or null when it has none or is malformed. */
export function leaseGrantId(message: Buffer): bigint | null {
  let pos = 0;
  let id: bigint | null = null;
  while (pos < message.length) {
    const tag = readVarint(message, pos);
    if (tag === null) return null;
    const field = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (wire === 0) {
      const v = readVarint(message, tag.next);
      if (v === null) return null;
      if (field === 2) id = v.value;
      pos = v.next;
    } else if (wire === 2) {
      const len = readVarint(message, tag.next);
      if (len === null) return null;
      pos = len.next + Number(len.value);
      if (pos > message.length) return null;
    } else {
      return null;
    }
  }
  return id;
}
