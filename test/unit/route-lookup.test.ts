// DirectRouting's route lookup coded by hand (src/netlink/route-lookup.ts) against the netlink package's own coding:
// the request is byte for byte what its formatter makes, and the gateway read from any route message is the one its
// generic parser + kernelRouteFromMessage give.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AttrStream, rt } from 'netlink';
import { ipToBuffer } from '../../src/net/ipv4.js';
import { gatewayOfRouteMessage, routeLookupPayload } from '../../src/netlink/route-lookup.js';
import { kernelRouteFromMessage, routePayload } from '../../src/netlink/routes.js';

const AF_INET = 2;
const u32 = fc.nat({ max: 0xffffffff });
const addr = fc.oneof(u32.map(ipToBuffer), fc.uint8Array({ minLength: 0, maxLength: 16 }).map((a) => Buffer.from(a)));

function encoded(m: { data: rt.Route; attrs: rt.RouteAttrs }): Buffer {
  const s = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', ...m }, s);
  return Buffer.concat(s.bufs);
}

test('the lookup request is what the package formats for an AF_INET /32 with RTA_DST', () => {
  fc.assert(fc.property(u32, (dst) => {
    const generic = Buffer.concat(routePayload({ data: { family: AF_INET, dstLen: 32 }, attrs: { dst: ipToBuffer(dst) } }));
    assert.deepEqual(Buffer.from(routeLookupPayload(dst)), generic);
  }));
});

test('the gateway read from a route message is the one the generic parser gives, for random routes', () => {
  const route = fc.record({
    data: fc.record({
      family: fc.constantFrom(AF_INET, AF_INET, 10), dstLen: fc.nat({ max: 32 }), srcLen: fc.nat({ max: 32 }),
      tos: fc.nat({ max: 255 }), table: fc.nat({ max: 255 }), protocol: fc.nat({ max: 255 }), scope: fc.nat({ max: 255 }),
      type: fc.nat({ max: 11 }),
    }, { requiredKeys: [] }),
    attrs: fc.record({
      dst: addr, gateway: addr, prefsrc: addr, oif: u32, priority: u32, table: u32, mark: fc.uint8Array({ maxLength: 7 }).map((a) => Buffer.from(a)),
    }, { requiredKeys: [] }),
  });
  const types = fc.constantFrom(rt.MessageType.NEWROUTE, rt.MessageType.DELROUTE, rt.MessageType.GETROUTE);
  fc.assert(fc.property(route, types, (r, type) => {
    const bytes = encoded(r as { data: rt.Route; attrs: rt.RouteAttrs });
    const parsed = rt.parseMessage(type, bytes);
    const generic = parsed.kind === 'route' ? kernelRouteFromMessage(parsed) : null;
    assert.equal(gatewayOfRouteMessage(type, bytes), generic === null ? undefined : generic.gateway);
    assert.equal(gatewayOfRouteMessage(rt.MessageType.NEWADDR, bytes), undefined, 'another message type is no route');
  }), { numRuns: 500 });
});

test('a message whose attributes run past its end, or too short for an rtmsg, is no route', () => {
  const good = encoded({ data: { family: AF_INET, dstLen: 32 }, attrs: { dst: ipToBuffer(1), gateway: ipToBuffer(0x0a000001) } });
  assert.equal(gatewayOfRouteMessage(rt.MessageType.NEWROUTE, good), 0x0a000001);
  assert.equal(gatewayOfRouteMessage(rt.MessageType.NEWROUTE, good.subarray(0, good.length - 2)), undefined);
  assert.equal(gatewayOfRouteMessage(rt.MessageType.NEWROUTE, good.subarray(0, 8)), undefined);
});
