import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeHandover, encodeHandover, HandoverError } from '../../src/reload/handover.js';
import { decodeLoops6, encodeLoops6, net6FromWords, sameLoop6Config, type Loop6Config } from '../../src/reload/handover6.js';
import { parseCidr6, requireIPv6 } from '../../src/net/ipv6.js';

const LOOPS6: Loop6Config = {
  vni: 1, port: 8472, ownMac: '02:aa:bb:cc:dd:ee', localIP6: requireIPv6('2001:db8::11'), network: parseCidr6('fd00:33::/56')!,
  subnetLen: 64, innerMtu: 1450, outerMtu: 1500, spinMicros: null, fifoPriority: null, allowForeignSource: false,
};
const PEERS6 = [
  { op: 'own' as const, subnet: [0xfd000033, 0x37], prefixLen: 64 },
  { op: 'set' as const, subnet: [0xfd000033, 0x34], publicIP: [0x20010db8, 0, 0, 0x12], mac: [2, 1, 2, 3, 4, 5] },
];

test('the IPv6 loops travel in a handover: settings (bigint addresses as text) and table come back equal', () => {
  const d = { device: 'flannel-v6.1', tunFds: [3], udpFds: [4], sendFds: [5], peers: [], loops6: { loops: LOOPS6, peers: PEERS6 } };
  const back = decodeHandover(encodeHandover({ version: 1, datapaths: [d] })).datapaths[0]!;
  assert.ok(back.loops6 && sameLoop6Config(back.loops6.loops, LOOPS6));
  assert.deepEqual(back.loops6.peers, PEERS6);
  assert.ok(!sameLoop6Config(LOOPS6, { ...LOOPS6, ownMac: '02:aa:bb:cc:dd:ef' }), 'a new VtepMAC restarts the loops');
  assert.ok(!sameLoop6Config(LOOPS6, { ...LOOPS6, localIP6: requireIPv6('2001:db8::12') }));
});

test('a bad loops6 refuses the handover with one line naming the field', () => {
  const enc = encodeLoops6({ loops: LOOPS6, peers: PEERS6 }) as { loops: Record<string, unknown>; peers: unknown[] };
  const bad = { ...enc, loops: { ...enc.loops, network: 'fd00::/999' } };
  const text = JSON.stringify({ version: 1, datapaths: [{ device: 'flannel-v6.1', tunFds: [3], udpFds: [4], sendFds: [5], peers: [], loops6: bad }] });
  assert.throws(() => decodeHandover(text), (e: unknown) => e instanceof HandoverError
    && /datapaths\[0\]\.loops6\.loops\.network is "fd00::\/999"/.test(e.message) && !e.message.includes('\n'));
  assert.deepEqual(decodeLoops6({ ...enc, peers: [{ op: 'set', subnet: [1] }] }), { field: 'loops6.peers[0]', value: { op: 'set', subnet: [1] } });
});

test('decodeLoops6 never throws, whatever it is given', () => {
  fc.assert(fc.property(fc.anything(), (v) => {
    const r = decodeLoops6(v);
    assert.ok('field' in r || 'loops' in r);
  }));
});

test('peer-table words give back the subnet they came from', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (upper) => {
    const ip = upper << 64n;
    const words = [Number(upper >> 32n), Number(upper & 0xffffffffn)];
    assert.equal(net6FromWords(words, 64).ip, ip);
  }));
});
