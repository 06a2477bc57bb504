import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  parseVxlanConfig, vxlanDeviceMtu, vxlanDeviceName, VxlanConfigError, DEFAULT_VXLAN_PORT,
} from '../../src/backend/vxlan/config.js';

test('defaults match upstream: VNI 1, port 8472, no GBP, nolearning, interface MTU, no direct routing', () => {
  assert.deepEqual(parseVxlanConfig({ Type: 'vxlan' }), {
    vni: 1, port: 8472, gbp: false, learning: false, mtu: null, directRouting: false,
  });
});

test('keys match case-insensitively and the last duplicate wins, as Go encoding/json does', () => {
  const c = parseVxlanConfig({ type: 'vxlan', vni: 7, PORT: 4789, gbp: true, LEARNING: true, mtu: 9001, directrouting: true });
  assert.deepEqual(c, { vni: 7, port: 4789, gbp: true, learning: true, mtu: 9001, directRouting: true });
  assert.equal(parseVxlanConfig({ VNI: 3, vni: 4 }).vni, 4);
});

test('Port 0 and null values mean the default; unknown and Windows-only keys are ignored', () => {
  assert.equal(parseVxlanConfig({ Port: 0 }).port, DEFAULT_VXLAN_PORT);
  assert.equal(parseVxlanConfig({ VNI: null }).vni, 1);
  assert.equal(parseVxlanConfig({ MacPrefix: '0E-2A', Name: 'x', Whatever: [1] }).vni, 1);
});

test('bad values give one line naming the field, the value and the fix', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ VNI: '1' }, /Backend\.VNI "1".*whole number/],
    [{ VNI: -1 }, /Backend\.VNI -1/],
    [{ VNI: 1.5 }, /Backend\.VNI 1\.5/],
    [{ VNI: 16777216 }, /Backend\.VNI 16777216.*24 bits/],
    [{ Port: 70000 }, /Backend\.Port 70000/],
    [{ MTU: 100 }, /Backend\.MTU 100.*118\.\.65535/],
    [{ GBP: 'yes' }, /Backend\.GBP "yes".*true or false/],
    [{ directRouting: 1 }, /Backend\.DirectRouting 1/],
  ];
  for (const [raw, re] of cases) {
    assert.throws(() => parseVxlanConfig(raw), (e: unknown) => {
      assert.ok(e instanceof VxlanConfigError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
});

test('any valid VNI/Port/MTU round-trips and the device MTU is MTU − 50', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 118, max: 65535 }),
    fc.integer({ min: 118, max: 65535 }),
    (vni, port, mtu, extMtu) => {
      const c = parseVxlanConfig({ VNI: vni, Port: port, MTU: mtu });
      assert.equal(c.vni, vni);
      assert.equal(c.port, port);
      assert.equal(vxlanDeviceMtu(c, extMtu), mtu - 50);
      assert.equal(vxlanDeviceMtu(parseVxlanConfig({}), extMtu), extMtu - 50);
    }));
});

test('device name is flannel.<VNI>', () => {
  assert.equal(vxlanDeviceName(1), 'flannel.1');
  assert.equal(vxlanDeviceName(4096), 'flannel.4096');
});
