// The IPv6 twins of the ip-masq / FORWARD rules and of --ip-blackhole-route in a dual-stack network, applied for real
// inside a namespace of this test (never the host's tables): ip6tables as upstream (ff00::/8 for multicast), the
// nftables table `ip6 flannel-ipv6`, and a blackhole route for the own IPv6 subnet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { inNetns, mustExec } from '../support/netns.js';
import { missingPrerequisite } from '../support/prerequisites.js';
import { scratchNetns } from '../support/scratch-netns.js';
import type { TrafficOptions } from '../../src/trafficmngr/traffic-manager.js';

const OPTS: TrafficOptions = {
  nftables: false, ipMasq: true, forwardRules: true, fullyRandomDisabled: false, resyncSeconds: 0, blackholeRoute: false,
};
const skip = missingPrerequisite({ commands: ['ip6tables-restore', 'ip6tables-save', 'iptables-restore', 'nft'] }) ?? false;
const freshNetns = scratchNetns('tsf6', 'ipv6-traffic');

async function trafficIn(ns: string, options: TrafficOptions, steps: ReadonlyArray<'start' | 'resync'>,
  v6: { ipv6Subnet?: string; prevIPv6Subnet?: string; network?: string; subnet?: string } = {}): Promise<void> {
  const args = JSON.stringify({ options, network: '10.5.0.0/16', subnet: '10.5.52.0/24', ipv6Network: 'fd00:5::/56',
    ipv6Subnet: 'fd00:5:0:34::/64', steps, ...v6 });
  const out = await mustExec(inNetns(ns, [process.execPath, path.join(__dirname, '..', 'support', 'agents', 'traffic-run.js'), args]));
  assert.deepEqual((JSON.parse(out) as { ok: boolean }).ok, true, out);
}

const lines = async (ns: string, tool: string, table: string): Promise<string[]> =>
  (await mustExec(inNetns(ns, [tool, '-t', table]))).split('\n').filter((l) => l.startsWith('-A '));

test('ip6tables gets upstream\'s masquerade and forward rules for IPv6Network and the own IPv6 subnet', { skip }, async () => {
  const ns = await freshNetns('ipt');
  await trafficIn(ns, OPTS, ['start', 'resync']);
  const m = ['-m', 'comment', '--comment', '"flanneld masq"'].join(' ');
  const nat6 = await lines(ns, 'ip6tables-save', 'nat');
  const masq = nat6.find((l) => l.includes('MASQUERADE') && l.includes('! -d ff00::/8'));
  assert.ok(masq, nat6.join('\n'));
  assert.deepEqual(nat6.map((l) => l.replace(' --random-fully', '')), [
    `-A POSTROUTING ${m} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${m} -j RETURN`,
    `-A FLANNEL-POSTRTG -s fd00:5:0:34::/64 -d fd00:5::/56 ${m} -j RETURN`,
    `-A FLANNEL-POSTRTG -s fd00:5::/56 -d fd00:5:0:34::/64 ${m} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s fd00:5::/56 -d fd00:5:0:34::/64 ${m} -j RETURN`,
    `-A FLANNEL-POSTRTG -s fd00:5::/56 ! -d ff00::/8 ${m} -j MASQUERADE`,
    `-A FLANNEL-POSTRTG ! -s fd00:5::/56 -d fd00:5::/56 ${m} -j MASQUERADE`,
  ]);
  const f = ['-m', 'comment', '--comment', '"flanneld forward"'].join(' ');
  assert.deepEqual(await lines(ns, 'ip6tables-save', 'filter'), [
    `-A FORWARD ${f} -j FLANNEL-FWD`,
    `-A FLANNEL-FWD -s fd00:5::/56 ${f} -j ACCEPT`,
    `-A FLANNEL-FWD -d fd00:5::/56 ${f} -j ACCEPT`,
  ]);
  // The IPv4 set is there as before, and untouched by the IPv6 one.
  assert.ok((await lines(ns, 'iptables-save', 'nat')).some((l) => l.includes('-s 10.5.0.0/16 ! -d 224.0.0.0/4')));
});

test('nftables mode fills `ip6 flannel-ipv6` beside `ip flannel-ipv4`; iptables mode removes both', { skip }, async () => {
  const ns = await freshNetns('nft');
  await trafficIn(ns, { ...OPTS, nftables: true }, ['start']);
  const t6 = await mustExec(inNetns(ns, ['nft', 'list', 'table', 'ip6', 'flannel-ipv6']));
  assert.match(t6, /ip6 saddr fd00:5::\/56 ip6 daddr != ff00::\/8 masquerade fully-random/);
  assert.match(t6, /chain forward \{\s*type filter hook forward priority filter; policy accept;\s*ip6 saddr fd00:5::\/56 accept\s*ip6 daddr fd00:5::\/56 accept/);
  await trafficIn(ns, OPTS, ['start']);
  assert.doesNotMatch(await mustExec(inNetns(ns, ['nft', 'list', 'tables'])), /flannel-ipv[46]/);
});

test('--ip-blackhole-route adds a blackhole route for the own IPv6 subnet too', { skip }, async () => {
  const ns = await freshNetns('bh');
  await trafficIn(ns, { ...OPTS, ipMasq: false, forwardRules: false, blackholeRoute: true }, ['start']);
  const out = await mustExec(['ip', '-n', ns, '-6', 'route', 'show', 'type', 'blackhole']);
  assert.match(out, /^blackhole fd00:5:0:34::\/64 dev lo proto 84 metric 4294967295/m);
});

test('a previous subnet.env with another IPv6 subnet has its old ip6tables masquerade rules removed', { skip }, async () => {
  const ns = await freshNetns('prv');
  await trafficIn(ns, OPTS, ['start'], { ipv6Subnet: 'fd00:5:0:9::/64' });
  await trafficIn(ns, OPTS, ['start'], { ipv6Subnet: 'fd00:5:0:34::/64', prevIPv6Subnet: 'fd00:5:0:9::/64' });
  const nat6 = await lines(ns, 'ip6tables-save', 'nat');
  assert.deepEqual(nat6.filter((l) => l.includes('fd00:5:0:9::')), [], nat6.join('\n'));
  assert.equal(nat6.filter((l) => l.includes('fd00:5:0:34::/64')).length, 3);
});

test('IPv6-only (no IPv4 half): only the ip6tables set and `ip6 flannel-ipv6`; no IPv4 rule, chain or table', { skip }, async () => {
  const ipt = await freshNetns('v6o');
  await trafficIn(ipt, OPTS, ['start', 'resync'], { network: '', subnet: '' });
  assert.ok((await lines(ipt, 'ip6tables-save', 'nat')).some((l) => l.includes('-s fd00:5::/56 ! -d ff00::/8')));
  assert.ok((await lines(ipt, 'ip6tables-save', 'filter')).some((l) => l.includes('FLANNEL-FWD -s fd00:5::/56')));
  for (const table of ['nat', 'filter']) {
    assert.deepEqual((await lines(ipt, 'iptables-save', table)).filter((l) => l.includes('flanneld')), [], table);
  }
  const nft = await freshNetns('v6n');
  await trafficIn(nft, { ...OPTS, nftables: true }, ['start'], { network: '', subnet: '' });
  const tables = await mustExec(inNetns(nft, ['nft', 'list', 'tables']));
  assert.match(tables, /table ip6 flannel-ipv6/);
  assert.doesNotMatch(tables, /table ip flannel-ipv4/);
});
