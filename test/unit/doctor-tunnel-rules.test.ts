import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTunnelGsoRules } from '../../src/ops/doctor-tunnel-rules.js';

const save = (rules: string[]): string =>
  ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ...rules, 'COMMIT', ''].join('\n');
const RULE = (dev: string): string => `-A FORWARD -i ${dev} -m comment --comment "tsflanneld tunnel-gso send path" -j ACCEPT`;

describe('doctor: tunnel_gso_rules', () => {
  it('warns about a rule whose TAP is gone, with the exact removal command, per family', () => {
    const r = checkTunnelGsoRules(save([RULE('flannel.1-gso'), '-A FORWARD -j DOCKER-USER']), save([RULE('gso6.1')]),
      new Set(['lo', 'eth0', 'flannel.1']));
    assert.equal(r.status, 'warn');
    assert.match(r.detail, /iptables -i flannel\.1-gso, ip6tables -i gso6\.1/);
    assert.equal(r.fix, 'iptables -D FORWARD -i flannel.1-gso -m comment --comment "tsflanneld tunnel-gso send path" -j ACCEPT; '
      + 'ip6tables -D FORWARD -i gso6.1 -m comment --comment "tsflanneld tunnel-gso send path" -j ACCEPT');
  });

  it('is ok when each rule has its TAP, or there is none; other ACCEPT rules by -i are not ours', () => {
    assert.equal(checkTunnelGsoRules(save([RULE('flannel.1-gso')]), null, new Set(['flannel.1-gso'])).status, 'ok');
    const other = checkTunnelGsoRules(save(['-A FORWARD -i gone0 -j ACCEPT']), save([]), new Set(['eth0']));
    assert.equal(other.status, 'ok');
    assert.match(other.detail, /no tunnel-gso FORWARD rule/);
  });

  it('skips without link facts or without iptables', () => {
    assert.equal(checkTunnelGsoRules(save([RULE('x')]), null, null).status, 'skip');
    assert.equal(checkTunnelGsoRules(null, null, new Set()).status, 'skip');
  });
});
