// The ip-masq / FORWARD rules applied for real, inside a namespace of this test (never the host's tables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { execCommand, inNetns, mustExec } from '../support/netns.js';
import { missingPrerequisite } from '../support/prerequisites.js';
import { scratchNetns } from '../support/scratch-netns.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { commandRunner } from '../../src/trafficmngr/exec.js';
import { NETWORK as N, SUBNET as S, UPSTREAM_FWD, UPSTREAM_MASQ } from '../fixtures/upstream-rules.js';
import { TrafficManager, type TrafficOptions } from '../../src/trafficmngr/traffic-manager.js';

const OPTS: TrafficOptions = {
  nftables: false, ipMasq: true, forwardRules: true, fullyRandomDisabled: false, resyncSeconds: 0, blackholeRoute: false,
};

const skip = missingPrerequisite({ commands: ['iptables-restore', 'iptables-save', 'nft'] }) ?? false;
const freshNetns = scratchNetns('tsfo', 'ops-traffic');
/** Device names inside the test's namespaces. */
const tag = randomBytes(3).toString('hex');

async function ruleLines(ns: string, table: string): Promise<string[]> {
  const out = await mustExec(inNetns(ns, ['iptables-save', '-t', table]));
  return out.split('\n').filter((l) => l.startsWith('-A '));
}

test('the rules in the namespace equal upstream\'s list, and applying twice changes nothing', { skip }, async () => {
  const ns = await freshNetns('ipt');
  const tm = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  const state = { network: N, subnet: S, prevNetwork: null, prevSubnet: null };
  await tm.start(state);
  assert.equal(tm.rulesInPlace, true);
  assert.deepEqual(await ruleLines(ns, 'nat'), UPSTREAM_MASQ);
  assert.deepEqual(await ruleLines(ns, 'filter'), UPSTREAM_FWD);
  tm.stop();
  await tm.start(state);
  tm.stop();
  assert.deepEqual(await ruleLines(ns, 'nat'), UPSTREAM_MASQ);
  assert.deepEqual(await ruleLines(ns, 'filter'), UPSTREAM_FWD);
});

test('a resync rebuilds the set in order when a rule was deleted, and keeps foreign rules', { skip }, async () => {
  const ns = await freshNetns('rsy');
  const tm = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  const state = { network: N, subnet: S, prevNetwork: null, prevSubnet: null };
  await tm.start(state);
  await mustExec(inNetns(ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '198.51.100.0/24', '-j', 'ACCEPT']));
  await mustExec(inNetns(ns, ['iptables', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '-s', '10.5.52.0/24', '-d', '10.5.0.0/16',
    '-m', 'comment', '--comment', 'flanneld masq', '-j', 'RETURN']));
  const before = tm.counters().rebuilds;
  await tm.resync(state);
  assert.equal(tm.counters().rebuilds, before + 1);
  const nat = await ruleLines(ns, 'nat');
  assert.deepEqual(nat.filter((l) => l === UPSTREAM_MASQ[0]), [UPSTREAM_MASQ[0]], 'exactly one jump to FLANNEL-POSTRTG');
  assert.deepEqual(nat.filter((l) => l.startsWith('-A FLANNEL-POSTRTG')), UPSTREAM_MASQ.slice(1));
  assert.ok(nat.includes('-A POSTROUTING -s 198.51.100.0/24 -j ACCEPT'));
  await tm.resync(state);
  assert.equal(tm.counters().rebuilds, before + 1, 'nothing missing: no rebuild');
  tm.stop();
});

test('a previous subnet.env with another subnet has its old masquerade rules removed', { skip }, async () => {
  const ns = await freshNetns('prv');
  const old = parseCidr('10.5.9.0/24') as Ipv4Net;
  const first = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  await first.start({ network: N, subnet: old, prevNetwork: null, prevSubnet: null });
  first.stop();
  const second = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  await second.start({ network: N, subnet: S, prevNetwork: N, prevSubnet: old });
  second.stop();
  const nat = await ruleLines(ns, 'nat');
  assert.deepEqual(nat, UPSTREAM_MASQ);
});

test('nftables mode creates flannel-ipv4 and removes the iptables chains; iptables mode removes the table', { skip }, async () => {
  const ns = await freshNetns('nft');
  const ipt = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  await ipt.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  ipt.stop();
  const nft = new TrafficManager({ ...OPTS, nftables: true }, commandRunner(inNetns(ns, [])));
  await nft.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  const table = await mustExec(inNetns(ns, ['nft', 'list', 'table', 'ip', 'flannel-ipv4']));
  assert.match(table, /chain postrtg \{\s*type nat hook postrouting priority srcnat; policy accept;/);
  assert.match(table, /ip saddr 10\.5\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade fully-random/);
  assert.match(table, /chain forward \{\s*type filter hook forward priority filter; policy accept;\s*ip saddr 10\.5\.0\.0\/16 accept\s*ip daddr 10\.5\.0\.0\/16 accept/);
  assert.deepEqual((await ruleLines(ns, 'nat')).filter((l) => l.includes('FLANNEL')), []);
  assert.doesNotMatch(await mustExec(inNetns(ns, ['iptables-save'])), /FLANNEL-/);
  await nft.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  const again = await mustExec(inNetns(ns, ['nft', 'list', 'table', 'ip', 'flannel-ipv4']));
  assert.equal(again, table, 'a second apply flushes and refills: same table');
  const back = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  await back.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  back.stop();
  const list = await mustExec(inNetns(ns, ['nft', 'list', 'tables']));
  assert.doesNotMatch(list, /flannel-ipv4/);
});

/** Runs the traffic manager inside the namespace (test/support/agents/traffic-run.ts): its netlink socket must live there. */
async function trafficIn(ns: string, options: TrafficOptions, steps: ReadonlyArray<'start' | 'resync'>): Promise<void> {
  const args = JSON.stringify({ options, network: '10.5.0.0/16', subnet: '10.5.52.0/24', steps });
  const out = await mustExec(inNetns(ns, [process.execPath, path.join(__dirname, '..', 'support', 'agents', 'traffic-run.js'), args]));
  assert.deepEqual((JSON.parse(out) as { ok: boolean }).ok, true, out);
}

test('--ip-blackhole-route adds a blackhole route for the own subnet, re-adds it at resync, never hides the bridge', { skip }, async () => {
  const ns = await freshNetns('bh');
  const bh = { ...OPTS, ipMasq: false, forwardRules: false, blackholeRoute: true };
  const blackholes = async (): Promise<string[]> =>
    (await mustExec(['ip', '-n', ns, 'route', 'show', 'type', 'blackhole'])).split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // Ours (proto 84) with the largest metric: any other route to the subnet wins over it.
  const ours = ['blackhole 10.5.52.0/24 proto 84 metric 4294967295'];
  await trafficIn(ns, bh, ['start']);
  assert.deepEqual(await blackholes(), ours);
  await mustExec(['ip', '-n', ns, 'route', 'del', 'blackhole', '10.5.52.0/24']);
  assert.deepEqual(await blackholes(), []);
  await trafficIn(ns, bh, ['resync', 'resync']);
  assert.deepEqual(await blackholes(), ours, 'one route after two resyncs');

  // The bridge gets its address after the daemon started: its own route takes the subnet's traffic.
  const dev = `vb${tag}`;
  await mustExec(['ip', '-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `vc${tag}`]);
  await mustExec(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  await mustExec(['ip', '-n', ns, 'link', 'set', `vc${tag}`, 'up']);
  await mustExec(['ip', '-n', ns, 'addr', 'add', '10.5.52.1/24', 'dev', dev]);
  await trafficIn(ns, bh, ['start']);
  assert.match(await mustExec(['ip', '-n', ns, 'route', 'get', '10.5.52.7']), new RegExp(`^10\\.5\\.52\\.7 dev ${dev} `));
  assert.deepEqual(await blackholes(), ours);
  // The bridge goes down: its route goes, and the blackhole drops the traffic instead of the default route taking it.
  await mustExec(['ip', '-n', ns, 'link', 'add', `ua${tag}`, 'type', 'veth', 'peer', 'name', `ub${tag}`]);
  await mustExec(['ip', '-n', ns, 'link', 'set', `ua${tag}`, 'up']);
  await mustExec(['ip', '-n', ns, 'link', 'set', `ub${tag}`, 'up']);
  await mustExec(['ip', '-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', `ua${tag}`]);
  await mustExec(['ip', '-n', ns, 'route', 'add', 'default', 'via', '192.0.2.2']);
  assert.match(await mustExec(['ip', '-n', ns, 'route', 'get', '10.5.99.7']), / via 192\.0\.2\.2 /, 'elsewhere: the default route');
  await mustExec(['ip', '-n', ns, 'link', 'set', dev, 'down']);
  const r = await execCommand(['ip', '-n', ns, 'route', 'get', '10.5.52.7']);
  assert.notEqual(r.code, 0, `not sent by the default route: ${r.stdout}`);
  assert.match(r.stderr, /Invalid argument/, 'the kernel answers a lookup into a blackhole with EINVAL');
});

test('prepare() applies the forward rules before the lease is known; start() adds the masquerade set once', { skip }, async () => {
  const ns = await freshNetns('prp');
  const tm = new TrafficManager(OPTS, commandRunner(inNetns(ns, [])));
  await tm.prepare(N);
  assert.deepEqual(await ruleLines(ns, 'filter'), UPSTREAM_FWD);
  assert.deepEqual(await ruleLines(ns, 'nat'), []);
  await tm.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  tm.stop();
  assert.deepEqual(await ruleLines(ns, 'nat'), UPSTREAM_MASQ);
  assert.deepEqual(await ruleLines(ns, 'filter'), UPSTREAM_FWD);
});
