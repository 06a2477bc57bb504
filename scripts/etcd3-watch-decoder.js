'use strict';
// The watch stream's decoder, written out into the static coders (scripts/etcd3-coders.js) beside protobufjs's own.
// A burst of joining hosts is one WatchResponse per few puts, each event carrying a KeyValue with four int64 fields:
// protobufjs decodes each into a Long object, then toObject turns each Long into a decimal string and copies every
// field into a second object. This reads the wire once and builds the toObject result directly: what
// `toObject(decode(bytes), etcd3's options)` gives (keepCase, longs String, enums String, defaults), field for field,
// so etcd3's watcher (header, created, canceled, compact_revision, cancel_reason, watch_id, events' type/kv/prev_kv)
// and the registry read exactly what they read before. test/unit/etcd3-watch-decoder.test.ts holds it to that.
//
// The function below is emitted by its source text (Function.prototype.toString): it must use nothing from this file.

/** Makes `decode(bytes)` for etcdserverpb.WatchResponse; `eventTypes` maps mvccpb.Event.EventType numbers to names. */
function watchResponseDecoder(eventTypes) {
  const TWO32 = 4294967296;
  // One decode runs to its end synchronously: its position and bounds live here instead of in a reader object.
  let buf = null;
  let pos = 0;
  let lim = 0;
  // The last 64-bit varint, as its two 32-bit halves.
  let lo = 0;
  let hi = 0;

  function outOfRange() {
    return new RangeError('index out of range: ' + pos + ' > ' + lim);
  }
  function byte() {
    if (pos >= lim) throw outOfRange();
    return buf[pos++];
  }
  /** A varint's low 32 bits (what protobufjs's uint32 reads: longer varints are read through and cut). */
  function u32() {
    let b = byte();
    if (b < 128) return b;
    let v = b & 127;
    b = byte(); v |= (b & 127) << 7; if (b < 128) return v >>> 0;
    b = byte(); v |= (b & 127) << 14; if (b < 128) return v >>> 0;
    b = byte(); v |= (b & 127) << 21; if (b < 128) return v >>> 0;
    b = byte(); v = (v | (b & 15) << 28) >>> 0; if (b < 128) return v;
    for (let i = 0; i < 5; i++) if (byte() < 128) return v;
    throw Error('invalid varint encoding');
  }
  function varint64() {
    let b;
    lo = 0;
    hi = 0;
    for (let i = 0; i < 4; i++) {
      b = byte();
      lo |= (b & 127) << (i * 7);
      if (b < 128) { lo >>>= 0; return; }
    }
    b = byte();
    lo = (lo | (b & 127) << 28) >>> 0;
    hi = (b & 127) >> 4;
    if (b < 128) return;
    for (let i = 0; i < 5; i++) {
      b = byte();
      hi = (hi | (b & 127) << (i * 7 + 3)) >>> 0;
      if (b < 128) return;
    }
    throw Error('invalid varint encoding');
  }
  /** The varint as the decimal string protobufjs's Long gives (`unsigned` for uint64): a number below 2^53. */
  function longString(unsigned) {
    varint64();
    if (hi < 0x200000) return String(hi * TWO32 + lo);
    const big = (BigInt(hi) << 32n) | BigInt(lo);
    return (unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big)).toString();
  }
  /** Enters a length-delimited field: returns the enclosing limit, to give back to `leave`. */
  function enter() {
    const len = u32();
    const end = pos + len;
    if (end > lim) throw RangeError('index out of range');
    const outer = lim;
    lim = end;
    return outer;
  }
  function leave(outer) {
    if (pos !== lim) throw RangeError('index out of range');
    lim = outer;
  }
  function bytes() {
    const len = u32();
    const end = pos + len;
    if (end > lim) throw outOfRange();
    const start = pos;
    pos = end;
    return start === end ? Buffer.alloc(0) : buf.subarray(start, end);
  }
  function skip(wireType, depth) {
    switch (wireType) {
      case 0: u32(); return;
      case 1: pos += 8; break;
      case 2: { const len = u32(); pos += len; break; }
      case 3:
        if (depth > 100) throw Error('maximum nesting depth exceeded');
        for (;;) {
          const t = u32() & 7;
          if (t === 4) return;
          skip(t, depth + 1);
        }
      case 5: pos += 4; break;
      default: throw Error('invalid wire type ' + wireType + ' at offset ' + pos);
    }
    if (pos > lim) throw outOfRange();
  }
  function header() {
    const outer = enter();
    const h = { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' };
    while (pos < lim) {
      const t = u32();
      switch (t >>> 3) {
        case 1: h.cluster_id = longString(true); break;
        case 2: h.member_id = longString(true); break;
        case 3: h.revision = longString(false); break;
        case 4: h.raft_term = longString(true); break;
        default: skip(t & 7, 0);
      }
    }
    leave(outer);
    return h;
  }
  function keyValue() {
    const outer = enter();
    const kv = { key: null, create_revision: '0', mod_revision: '0', version: '0', value: null, lease: '0' };
    while (pos < lim) {
      const t = u32();
      switch (t >>> 3) {
        case 1: kv.key = bytes(); break;
        case 2: kv.create_revision = longString(false); break;
        case 3: kv.mod_revision = longString(false); break;
        case 4: kv.version = longString(false); break;
        case 5: kv.value = bytes(); break;
        case 6: kv.lease = longString(false); break;
        default: skip(t & 7, 0);
      }
    }
    leave(outer);
    if (kv.key === null) kv.key = Buffer.alloc(0);
    if (kv.value === null) kv.value = Buffer.alloc(0);
    return kv;
  }
  function event() {
    const outer = enter();
    const ev = { type: 'Put', kv: null, prev_kv: null };
    while (pos < lim) {
      const t = u32();
      switch (t >>> 3) {
        case 1: { const n = u32() | 0; const name = eventTypes[n]; ev.type = name === undefined ? n : name; break; }
        case 2: ev.kv = keyValue(); break;
        case 3: ev.prev_kv = keyValue(); break;
        default: skip(t & 7, 0);
      }
    }
    leave(outer);
    return ev;
  }
  function response() {
    const res = {
      events: [], header: null, watch_id: '0', created: false, canceled: false, compact_revision: '0',
      cancel_reason: '', fragment: false,
    };
    while (pos < lim) {
      const t = u32();
      switch (t >>> 3) {
        case 1: res.header = header(); break;
        case 2: res.watch_id = longString(false); break;
        case 3: res.created = u32() !== 0; break;
        case 4: res.canceled = u32() !== 0; break;
        case 5: res.compact_revision = longString(false); break;
        case 6: {
          // As protobufjs's BufferReader: a string running past the end is cut there, not refused.
          const len = u32();
          const end = Math.min(pos + len, lim);
          res.cancel_reason = buf.toString('utf8', pos, end);
          pos = end;
          break;
        }
        case 7: res.fragment = u32() !== 0; break;
        case 11: res.events.push(event()); break;
        default: skip(t & 7, 0);
      }
    }
    return res;
  }
  return function decodeWatchResponse(bytes) {
    buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    pos = 0;
    lim = buf.length;
    try {
      return response();
    } finally {
      buf = null;
    }
  };
}

module.exports = { watchResponseDecoder };
