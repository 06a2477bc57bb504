import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IfaceSelectionError, selectExternalInterface, usableAddrs, type IfaceFacts } from '../../src/net/iface-select.js';
import { defaultRouteLink } from '../../src/net/iface-select.js';
import { makeNet, parseIPv4 } from '../../src/net/ipv4.js';
import type { KernelRoute } from '../../src/netlink/routes.js';

const ip = (s: string): number => parseIPv4(s) as number;

const facts: IfaceFacts = {
  interfaces: [
    { name: 'lo', index: 1, mtu: 65536, addrs: [ip('127.0.0.1')] },
    { name: 'eth0', index: 2, mtu: 1500, addrs: [ip('169.254.3.3'), ip('192.0.2.10')] },
    { name: 'eth1', index: 3, mtu: 9000, addrs: [ip('198.51.100.7'), ip('198.51.100.8')] },
    { name: 'ens5', index: 4, mtu: 1460, addrs: [] },
  ],
  defaultRoute: { index: 2 },
  canReach: { index: 3, src: ip('198.51.100.8') },
};

const none = { iface: [], ifaceRegex: [] };

test('without options the default-route interface and its first global address are used', () => {
  assert.deepEqual(selectExternalInterface(none, facts),
    { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '192.0.2.10', extAddr: '192.0.2.10' });
});

test('--public-ip sets extAddr only; a bad one is a clear error', () => {
  const e = selectExternalInterface({ ...none, publicIP: '203.0.113.5' }, facts);
  assert.equal(e.ifaceAddr, '192.0.2.10');
  assert.equal(e.extAddr, '203.0.113.5');
  assert.throws(() => selectExternalInterface({ ...none, publicIP: 'nope' }, facts), /--public-ip=nope is not an IPv4 address/);
});

test('--iface by name takes the first address; by IP takes that very address', () => {
  assert.equal(selectExternalInterface({ ...none, iface: ['eth1'] }, facts).ifaceAddr, '198.51.100.7');
  const byIp = selectExternalInterface({ ...none, iface: ['198.51.100.8'] }, facts);
  assert.equal(byIp.name, 'eth1');
  assert.equal(byIp.ifaceAddr, '198.51.100.8');
  assert.equal(byIp.mtu, 9000);
});

test('every --iface is tried in order; the first that matches wins', () => {
  assert.equal(selectExternalInterface({ ...none, iface: ['wlan0', '192.0.2.10', 'eth1'] }, facts).name, 'eth0');
});

test('--iface-regex matches addresses before names, and runs after every --iface missed', () => {
  assert.equal(selectExternalInterface({ ...none, ifaceRegex: ['^198\\.51'] }, facts).ifaceAddr, '198.51.100.7');
  assert.equal(selectExternalInterface({ ...none, ifaceRegex: ['eth1'] }, facts).name, 'eth1');
  // '1' occurs in eth0's address 192.0.2.10 before it occurs in the name eth1.
  assert.equal(selectExternalInterface({ ...none, ifaceRegex: ['1'] }, facts).name, 'eth0');
  assert.equal(selectExternalInterface({ iface: ['nope'], ifaceRegex: ['^eth1$'] }, facts).name, 'eth1');
});

test('--iface-can-reach uses the route lookup: its interface and source address', () => {
  const e = selectExternalInterface({ ...none, ifaceCanReach: '198.51.100.1' }, facts);
  assert.equal(e.name, 'eth1');
  assert.equal(e.ifaceAddr, '198.51.100.8');
});

test('link-local addresses come after global ones; loopback is never usable', () => {
  assert.deepEqual(usableAddrs([ip('169.254.3.3'), ip('127.0.0.1'), ip('10.1.1.1'), ip('224.0.0.1')]), [ip('10.1.1.1'), ip('169.254.3.3')]);
  assert.throws(() => selectExternalInterface({ ...none, iface: ['lo'] }, facts), /lo has no usable IPv4 address/);
});

test('no match: one line naming each option tried and listing the interfaces seen', () => {
  let msg = '';
  try {
    selectExternalInterface({ iface: ['wlan0', 'ens5'], ifaceRegex: ['^10\\.', '('] }, facts);
  } catch (e) {
    assert.ok(e instanceof IfaceSelectionError);
    msg = e.message;
  }
  assert.match(msg, /--iface=wlan0: no interface has this name/);
  assert.match(msg, /ens5 has no usable IPv4 address/);
  assert.match(msg, /--iface-regex=\^10\\\.: matches no interface address or name/);
  assert.match(msg, /--iface-regex=\(: not a valid regular expression/);
  assert.match(msg, /interfaces seen: lo \(127\.0\.0\.1\), eth0 \(169\.254\.3\.3, 192\.0\.2\.10\), eth1 .*ens5 \(no IPv4\)/);
  assert.doesNotMatch(msg, /\n/);
});

test('no default route: the error says which options to give', () => {
  assert.throws(() => selectExternalInterface(none, { ...facts, defaultRoute: defaultRouteLink([]) }),
    /default route: there is no IPv4 default route: give --iface, --iface-regex or --iface-can-reach/);
});

test('the default route with the lowest metric decides', () => {
  const r = (oif: number, priority: number | null, len = 0): KernelRoute => ({
    dst: makeNet(0, len), gateway: ip('192.0.2.1'), oif, table: 254, protocol: 4, scope: 0, type: 1, onlink: false,
    priority, prefsrc: null,
  });
  assert.deepEqual(defaultRouteLink([r(2, 600), r(3, 100), r(4, 0, 8)]), { index: 3 });
});
