import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseNetworkConfig } from '../../src/config/parse.js';
import { formatCidr, formatIPv4, makeNet, netContainsIP, parseIPv4, prefixSize } from '../../src/net/ipv4.js';

const ip = (s: string): number => parseIPv4(s) as number;

test('upstream defaults: /16 network gives /24 subnets, first subnet skipped, last one included', () => {
  const c = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
  assert.equal(formatCidr(c.network), '10.5.0.0/16');
  assert.equal(c.subnetLen, 24);
  assert.equal(formatIPv4(c.subnetMin), '10.5.1.0');
  assert.equal(formatIPv4(c.subnetMax), '10.5.255.0');
  assert.equal(c.enableIPv4, true);
  assert.equal(c.enableIPv6, false);
  assert.equal(c.enableNFTables, false);
  assert.equal(c.backend.type, 'vxlan');
});

test('keys match case-insensitively, unknown keys are ignored, host bits are masked', () => {
  const c = parseNetworkConfig('{"network":"10.5.7.9/16","SUBNETLEN":26,"subnetmin":"10.5.0.64","Whatever":1,'
    + '"backend":{"type":"VXLAN","VNI":4}}');
  assert.equal(formatCidr(c.network), '10.5.0.0/16');
  assert.equal(c.subnetLen, 26);
  assert.equal(formatIPv4(c.subnetMin), '10.5.0.64');
  assert.equal(formatIPv4(c.subnetMax), '10.5.255.192');
  assert.equal(c.backend.type, 'vxlan');
  assert.equal(c.backend.raw.VNI, 4);
});

test('the later of two keys that differ only in case wins, as in Go', () => {
  assert.equal(formatCidr(parseNetworkConfig('{"Network":"10.1.0.0/16","network":"10.2.0.0/16"}').network), '10.2.0.0/16');
});

test('Backend absent defaults to udp (upstream code, not its docs)', () => {
  assert.equal(parseNetworkConfig('{"Network":"10.0.0.0/8"}').backend.type, 'udp');
});

test('SubnetLen defaults by network size', () => {
  const len = (net: string): number => parseNetworkConfig(`{"Network":"${net}"}`).subnetLen;
  assert.equal(len('10.0.0.0/8'), 24);
  assert.equal(len('10.0.0.0/22'), 24);
  assert.equal(len('10.0.0.0/23'), 25);
  assert.equal(len('10.0.0.0/28'), 30);
  assert.throws(() => len('10.0.0.0/29'), /smallest useful network is a \/28/);
});

test('errors name the field, the value and the fix on one line', () => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /^network config is not valid JSON .*write it like \{"Network"/],
    ['[1]', /not a JSON object/],
    ['{}', /^network config has no Network: add one/],
    ['{"Network":"10.0.0.0"}', /^invalid Network "10\.0\.0\.0" in the network config: use an IPv4 CIDR/],
    ['{"Network":17}', /^invalid Network 17/],
    ['{"Network":"10.0.0.0/16","SubnetLen":31}', /^invalid SubnetLen 31 .*use 30 or less/],
    ['{"Network":"10.0.0.0/16","SubnetLen":17}', /^invalid SubnetLen 17 .*at least four subnets: use 18 or more/],
    ['{"Network":"10.0.0.0/16","SubnetLen":"24"}', /^invalid SubnetLen "24" .*whole number/],
    ['{"Network":"10.0.0.0/16","SubnetMin":"10.1.0.0"}', /^invalid SubnetMin "10\.1\.0\.0" .*inside Network 10\.0\.0\.0\/16/],
    ['{"Network":"10.0.0.0/16","SubnetMax":"10.0.3.7"}', /^invalid SubnetMax "10\.0\.3\.7" .*start of a \/24 subnet .*10\.0\.3\.0/],
    ['{"Network":"10.0.0.0/16","SubnetMin":"10.0.9.0","SubnetMax":"10.0.3.0"}', /^invalid SubnetMin "10\.0\.9\.0" .*not be above SubnetMax/],
    ['{"Network":"10.0.0.0/16","EnableIPv4":false}', /^invalid EnableIPv4 false .*no address family is left/],
    ['{"Network":"10.0.0.0/16","EnableIPv4":"yes"}', /^invalid EnableIPv4 "yes" .*true or false/],
    ['{"Network":"10.0.0.0/16","Backend":"vxlan"}', /^invalid Backend "vxlan" .*\{"Type":"vxlan"\}/],
    ['{"Network":"10.0.0.0/16","Backend":{"VNI":1}}', /^invalid Backend\.Type null .*"vxlan"/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseNetworkConfig(text), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${text}: ${String(e)}`);
      assert.match(e.message, re, text);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
});

test('null values leave the defaults, as Go does', () => {
  const c = parseNetworkConfig('{"Network":"10.0.0.0/16","SubnetLen":null,"Backend":null,"EnableIPv6":null}');
  assert.equal(c.subnetLen, 24);
  assert.equal(c.backend.type, 'udp');
});

const validNetwork = fc.record({ ip: fc.integer({ min: 0, max: 0xffffffff }), prefixLen: fc.integer({ min: 1, max: 28 }) })
  .chain(({ ip: addr, prefixLen }) => fc.record({
    net: fc.constant(makeNet(addr, prefixLen)),
    hostBits: fc.constant(addr),
    subnetLen: fc.oneof(fc.constant(0), fc.integer({ min: Math.min(prefixLen + 2, 30), max: 30 })),
  }));

test('property: SubnetMin/Max are aligned, inside Network and ordered for every valid Network/SubnetLen', () => {
  fc.assert(fc.property(validNetwork, ({ net, hostBits, subnetLen }) => {
    const text = JSON.stringify({ Network: `${formatIPv4(hostBits)}/${net.prefixLen}`,
      ...(subnetLen ? { SubnetLen: subnetLen } : {}) });
    const c = parseNetworkConfig(text);
    assert.deepEqual(c.network, net);
    const size = prefixSize(c.subnetLen);
    assert.ok(c.subnetLen >= net.prefixLen + 2 && c.subnetLen <= 30);
    for (const bound of [c.subnetMin, c.subnetMax]) {
      assert.equal(bound % size, 0);
      assert.ok(netContainsIP(net, bound));
      assert.ok(netContainsIP(net, bound + size - 1));
    }
    assert.equal(c.subnetMin, net.ip + size, 'the first subnet is skipped');
    assert.ok(c.subnetMin <= c.subnetMax);
  }));
});

test('property: a given SubnetMin is accepted exactly when aligned and inside Network', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (candidate) => {
    const text = JSON.stringify({ Network: '10.0.0.0/16', SubnetLen: 24, SubnetMin: formatIPv4(candidate),
      SubnetMax: '10.0.255.0' });
    const ok = candidate % 256 === 0 && netContainsIP(makeNet(ip('10.0.0.0'), 16), candidate);
    if (ok) assert.equal(parseNetworkConfig(text).subnetMin, candidate);
    else assert.throws(() => parseNetworkConfig(text), ConfigError);
  }));
});
