// The udp backend's config keys, MTU and lease reading (flannel-compat §7).
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseUdpConfig, udpDeviceMtu, UdpConfigError } from '../../src/backend/udp/config.js';
import { readUdpPeer } from '../../src/backend/udp/peers.js';
import { parseCidr } from '../../src/net/ipv4.js';

test('Port defaults to 8285, is read case-insensitively, and a bad one names the field and the fix', () => {
  assert.deepEqual(parseUdpConfig({}), { port: 8285 });
  assert.deepEqual(parseUdpConfig({ Type: 'udp', port: 9000 }), { port: 9000 });
  assert.deepEqual(parseUdpConfig({ Port: 0 }), { port: 8285 });
  for (const bad of [-1, 70000, 1.5, '8285', true]) {
    assert.throws(() => parseUdpConfig({ Port: bad }), (e: Error) => e instanceof UdpConfigError
      && e.message.includes('Backend.Port') && e.message.includes(JSON.stringify(bad)) && e.message.includes('8285'));
  }
});

test('flannel0 MTU is the external MTU − 28; an underlay too small is refused', () => {
  assert.equal(udpDeviceMtu(1500), 1472);
  assert.equal(udpDeviceMtu(9001), 8973);
  assert.throws(() => udpDeviceMtu(90), /at least 96/);
});

test('every lease with an IPv4 PublicIP is a peer, whatever its BackendType (as upstream udp)', () => {
  const lease = (backendType: string | undefined, publicIP: string) => ({
    subnet: parseCidr('10.5.7.0/24')!, expiration: null,
    attrs: { publicIP, publicIPv6: null, ...(backendType === undefined ? {} : { backendType }) },
  });
  const r = readUdpPeer(lease(undefined, '192.0.2.12') as never);
  assert.equal(r.kind, 'peer');
  assert.equal(readUdpPeer(lease('vxlan', '192.0.2.12') as never).kind, 'peer');
  const bad = readUdpPeer(lease(undefined, 'nope') as never);
  assert.equal(bad.kind, 'ignored');
  assert.match(bad.kind === 'ignored' ? bad.reason : '', /PublicIP "nope"/);
});
