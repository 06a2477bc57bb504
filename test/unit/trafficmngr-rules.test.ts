import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  atLeast162, forwardRules, masqRules, missingRules, parseIptablesVersion, parseSave, presentRules, restoreInput,
  ruleLine, splitSaveLine,
} from '../../src/trafficmngr/iptables-rules.js';
import { NETWORK as N, SUBNET as S, UPSTREAM_FWD, UPSTREAM_MASQ } from '../fixtures/upstream-rules.js';
import { listedNftTables, nftForwardScript, nftMasqScript } from '../../src/trafficmngr/nftables-rules.js';



test('masquerade rules equal upstream\'s list, in order', () => {
  assert.deepEqual(masqRules(N, S, { randomFully: true }).map((r) => ruleLine(r)), UPSTREAM_MASQ);
  assert.ok(masqRules(N, S, { randomFully: true }).every((r) => r.table === 'nat'));
});

test('without --random-fully support the MASQUERADE rules end at -j MASQUERADE', () => {
  const lines = masqRules(N, S, { randomFully: false }).map((r) => ruleLine(r));
  assert.deepEqual(lines, UPSTREAM_MASQ.map((l) => l.replace(' --random-fully', '')));
});

test('forward rules equal upstream\'s list', () => {
  assert.deepEqual(forwardRules(N).map((r) => ruleLine(r)), UPSTREAM_FWD);
  assert.ok(forwardRules(N).every((r) => r.table === 'filter'));
});

test('restore input deletes present copies before appending the whole set', () => {
  const rules = forwardRules(N);
  const input = restoreInput(rules, [rules[1]!]);
  assert.equal(input, '*filter\n'
    + '-D FLANNEL-FWD -s 10.5.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT\n'
    + `${UPSTREAM_FWD.join('\n')}\nCOMMIT\n`);
});

test('iptables-save parsing round-trips the rule lines and finds what is missing', () => {
  const save = `*nat\n:POSTROUTING ACCEPT [0:0]\n${UPSTREAM_MASQ.slice(0, 3).join('\n')}\nCOMMIT\n*filter\n${UPSTREAM_FWD.join('\n')}\nCOMMIT\n`;
  const parsed = parseSave(save);
  assert.equal(parsed.length, 6);
  const masq = masqRules(N, S, { randomFully: true });
  assert.deepEqual(missingRules(masq, parsed).map((r) => ruleLine(r)), UPSTREAM_MASQ.slice(3));
  assert.equal(presentRules(masq, parsed).length, 3);
  assert.deepEqual(missingRules(forwardRules(N), parsed), []);
  assert.deepEqual(splitSaveLine('-A X -m comment --comment "a \\"b\\" c" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'a "b" c', '-j', 'Y']);
});

test('iptables version gate for --random-fully and restore --wait (1.6.2)', () => {
  assert.equal(atLeast162(parseIptablesVersion('iptables v1.8.9 (nf_tables)')), true);
  assert.equal(atLeast162(parseIptablesVersion('iptables v1.6.1')), false);
  assert.equal(atLeast162(parseIptablesVersion('iptables v1.6.2')), true);
  assert.equal(atLeast162(parseIptablesVersion('garbage')), false);
});

test('nftables scripts: table flannel-ipv4, postrtg and forward chains with upstream\'s rules', () => {
  const masq = nftMasqScript(N, S, { randomFully: true });
  assert.match(masq, /add chain ip flannel-ipv4 postrtg \{ type nat hook postrouting priority srcnat ; \}/);
  assert.match(masq, /flush chain ip flannel-ipv4 postrtg\n/);
  const rules = masq.split('\n').filter((l) => l.startsWith('add rule')).map((l) => l.replace('add rule ip flannel-ipv4 postrtg ', ''));
  assert.deepEqual(rules, [
    'meta mark 0x4000 return',
    'ip saddr 10.5.52.0/24 ip daddr 10.5.0.0/16 return',
    'ip saddr 10.5.0.0/16 ip daddr 10.5.52.0/24 return',
    'ip saddr != 10.5.52.0/24 ip daddr 10.5.0.0/16 return',
    'ip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
    'ip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 masquerade fully-random',
  ]);
  const fwd = nftForwardScript(N);
  assert.match(fwd, /add rule ip flannel-ipv4 forward ip saddr 10.5.0.0\/16 accept\n/);
  assert.match(fwd, /add rule ip flannel-ipv4 forward ip daddr 10.5.0.0\/16 accept\n/);
});

test('iptables-save lines split back into the arguments they were rendered from (property)', async () => {
  const fc = (await import('fast-check')).default;
  const arg = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\n'));
  fc.assert(fc.property(fc.array(arg, { minLength: 1, maxLength: 8 }), (spec) => {
    const line = ruleLine({ table: 'nat', chain: 'FLANNEL-POSTRTG', spec });
    assert.deepEqual(splitSaveLine(line), ['-A', 'FLANNEL-POSTRTG', ...spec]);
  }));
});

test('`nft list tables` output gives each table as "family name"; anything else is ignored', () => {
  const out = 'table ip filter\ntable ip flannel-ipv4\ntable ip6 flannel-ipv6\n# comment\n\ntable inet  firewalld\n';
  assert.deepEqual([...listedNftTables(out)], ['ip filter', 'ip flannel-ipv4', 'ip6 flannel-ipv6', 'inet firewalld']);
  assert.equal(listedNftTables('').size, 0);
});
