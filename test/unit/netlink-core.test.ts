import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AttrStream, rt } from 'netlink';
import { classifyNetlinkError, isAbsentError, NetlinkError } from '../../src/netlink/errors.js';
import { ip4BufToString, ip4StringToBuf, macFromBuf, macToBuf, toBuf } from '../../src/netlink/codec.js';
import { Limiter } from '../../src/netlink/limiter.js';
import { decodeNotification } from '../../src/netlink/monitor.js';
import { formatCidr, formatIPv4 } from '../../src/net/ipv4.js';
import { TSFLANNELD_ROUTE_PROTOCOL } from '../../src/netlink/routes.js';

test('package rejections become NetlinkErrors with the errno name as code and the operation in the message', () => {
  const e = classifyNetlinkError(new Error('Request rejected: EEXIST'), 'replace route 10.5.2.0/24');
  assert.ok(e instanceof NetlinkError);
  assert.equal(e.code, 'EEXIST');
  assert.equal(e.message, 'replace route 10.5.2.0/24: EEXIST');
  assert.equal(classifyNetlinkError(new Error('Timeout has been reached'), 'x').code, 'TIMEOUT');
  const sockErr = Object.assign(new Error('error when polling socket: bad file descriptor'), { code: 'EBADF' });
  const s = classifyNetlinkError(sockErr, 'list routes');
  assert.equal(s.code, 'ESOCKET');
  assert.match(s.message, /EBADF/);
  assert.equal(classifyNetlinkError('weird', 'x').code, 'EUNKNOWN');
  assert.equal(classifyNetlinkError(e, 'other'), e, 'an already typed error passes through');
});

test('absent-object codes are what idempotent deletes ignore, nothing else', () => {
  for (const code of ['ESRCH', 'ENOENT', 'ENODEV', 'EADDRNOTAVAIL']) assert.equal(isAbsentError(new NetlinkError(code, 'x')), true);
  for (const code of ['EEXIST', 'TIMEOUT', 'ESOCKET', 'EPERM']) assert.equal(isAbsentError(new NetlinkError(code, 'x')), false);
  assert.equal(isAbsentError(new Error('Request rejected: ESRCH')), false, 'only classified errors count');
});

test('IPv4 and MAC codecs round-trip and reject malformed text', () => {
  fc.assert(fc.property(fc.ipV4(), (ip) => ip4BufToString(ip4StringToBuf(ip)) === ip));
  fc.assert(fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (bytes) => {
    const mac = macFromBuf(Buffer.from(bytes));
    return mac !== null && macToBuf(mac).equals(Buffer.from(bytes));
  }));
  assert.equal(macFromBuf(Buffer.alloc(4)), null);
  assert.equal(ip4BufToString(Buffer.alloc(16)), null);
  assert.throws(() => macToBuf('aa:bb:cc:dd:ee'), /not a MAC address/);
  assert.throws(() => ip4StringToBuf('10.0.0.256'), /not an IPv4 address/);
});

test('toBuf flattens StreamData so it can go where the package types a Buffer', () => {
  const out = toBuf((stream) => { stream.emit(Buffer.from([1, 2])); stream.emit([Buffer.from([3])]); });
  assert.deepEqual([...out], [1, 2, 3]);
});

test('the limiter never runs more than max tasks at once and runs them all, in order of arrival', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(3), { maxLength: 40 }), async (max, delays) => {
    const limiter = new Limiter(max);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await Promise.all(delays.map((d, i) => limiter.run(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      for (let k = 0; k < d; k++) await Promise.resolve();
      running--;
    })));
    assert.ok(peak <= max);
    assert.deepEqual(started, delays.map((_, i) => i));
    assert.equal(limiter.inFlight, 0);
    assert.equal(limiter.queued, 0);
  }));
});

test('a failing task frees its slot', async () => {
  const limiter = new Limiter(1);
  await assert.rejects(limiter.run(async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await limiter.run(async () => 7), 7);
});

function routeMessage(fields: rt.RouteMessage): Buffer {
  const s = new AttrStream();
  rt.formatRouteMessage(fields, s);
  return Buffer.concat(s.bufs);
}

test('route notifications decode with NEW and DEL told apart, onlink and protocol as numbers', () => {
  const data = routeMessage({
    kind: 'route',
    data: { family: 2, dstLen: 24, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL, scope: 'UNIVERSE', type: 'UNICAST', flags: { __unknown: 4 } },
    attrs: { dst: Buffer.from([10, 5, 2, 0]), gateway: Buffer.from([192, 0, 2, 2]), oif: 7 },
  });
  const del = decodeNotification(rt.MessageType.DELROUTE, data);
  const add = decodeNotification(rt.MessageType.NEWROUTE, data);
  assert.equal(del?.kind, 'route');
  assert.equal(del?.action, 'del');
  assert.equal(add?.action, 'new');
  if (del?.kind !== 'route') throw new Error('unreachable');
  assert.equal(formatCidr(del.route.dst), '10.5.2.0/24');
  assert.equal(formatIPv4(del.route.gateway ?? 0), '192.0.2.2');
  assert.equal(del.route.oif, 7);
  assert.equal(del.route.protocol, 0x54);
  assert.equal(del.route.onlink, true);
  assert.equal(del.route.table, 254);
  assert.equal(decodeNotification(rt.MessageType.GETROUTE, data), null, 'requests are not notifications');
});
