// Whole daemons (the built CLI, backend alloc) against one real etcd: distinct subnets in subnet.env, upstream's
// lease keys and JSON in etcd, a clean SIGTERM, and the same subnet again after a restart without subnet.env.
// Everything runs inside a namespace of this test: a veth pair gives the daemons their 192.0.2.x interfaces and
// etcd listens on the namespace's loopback.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { etcdctl, etcdctlV2, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { dropLedger, newLedger, saveLedger, sweepDeadRuns, type Ledger } from '../support/leftovers.js';
import { createNetns, mustExec, removeNetns } from '../support/netns.js';
import { isAlive, spawnTracked, terminateTracked, waitFor } from '../support/proc.js';
import { CLI_JS } from '../support/testbed.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const tag = crypto.randomBytes(3).toString('hex');
const ns = `tsfl-da-${tag}`;
const ifA = `tda${tag}a`;
const ifB = `tda${tag}b`;
const prefix = '/usr/local/bin/network';
const config = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';

const skip = missingPrerequisite({ etcd: true, cli: true });

let ledger: Ledger | null = null;
let tmp = '';
let etcd: EtcdMember | null = null;

interface Daemon {
  readonly child: ChildProcess;
  readonly subnetFile: string;
  output: string;
  readonly exited: Promise<number | null>;
}
const daemons: Daemon[] = [];

function startDaemon(name: string, iface: string, publicIP: string, extra: readonly string[] = [],
  etcdPrefix = prefix): Daemon {
  assert.ok(etcd);
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const subnetFile = path.join(dir, 'run', 'subnet.env');
  const child = spawnTracked('ip', ['netns', 'exec', ns, process.execPath, CLI_JS,
    `-etcd-endpoints=${etcd.clientUrl}`, '-etcd-prefix', etcdPrefix, '--iface', iface, '--public-ip', publicIP,
    '--subnet-file', subnetFile, '--state-dir', path.join(dir, 'state'), ...extra],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TSFLANNELD_LOG_FORMAT: 'json' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const d: Daemon = { child, subnetFile, output: '', exited };
  child.stderr?.on('data', (b: Buffer) => { d.output += b.toString(); });
  daemons.push(d);
  return d;
}

/** The daemon's subnet.env once written; fails at once (with the daemon's log) if the daemon exits first. */
async function subnetEnvOf(d: Daemon): Promise<string> {
  const EXITED = '\0exited';
  const text = await waitFor(() => {
    if (fs.existsSync(d.subnetFile)) return fs.readFileSync(d.subnetFile, 'utf8');
    return d.child.exitCode !== null || d.child.signalCode !== null ? EXITED : null;
  }, { what: `${d.subnetFile} to be written`, timeoutMs: 30_000, intervalMs: 100 });
  if (text === EXITED) throw new Error(`daemon exited ${d.child.exitCode} before writing ${d.subnetFile}: ${d.output.slice(-1500)}`);
  return text;
}

function terminate(d: Daemon): Promise<number | null> {
  return terminateTracked(d.child, d.exited);
}

interface EtcdKv { key: string; value: string; lease?: number | string }

async function leasesInEtcd(): Promise<Map<string, { value: string; lease: bigint }>> {
  assert.ok(etcd);
  const out = await etcdctl(etcd.clientUrl, ['get', '--prefix', `${prefix}/subnets/`, '-w', 'json'], { netns: ns });
  // Lease ids are int64: keep them exact.
  const parsed = JSON.parse(out.replace(/"lease":(\d+)/g, '"lease":"$1"')) as { kvs?: EtcdKv[] };
  const map = new Map<string, { value: string; lease: bigint }>();
  for (const kv of parsed.kvs ?? []) {
    map.set(Buffer.from(kv.key, 'base64').toString(), { value: Buffer.from(kv.value, 'base64').toString(),
      lease: BigInt(kv.lease ?? 0) });
  }
  return map;
}

function subnetOf(env: string): string {
  const m = /^FLANNEL_SUBNET=(10\.0\.(\d+)\.1\/24)$/m.exec(env);
  assert.ok(m, `FLANNEL_SUBNET in ${JSON.stringify(env)}`);
  return m[1] as string;
}

before(async () => {
  if (skip) return;
  await sweepDeadRuns();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tsfl-da-${tag}-`));
  ledger = newLedger(`daemon-alloc-${tag}`);
  ledger.netns.push(ns);
  ledger.dirs.push(tmp);
  saveLedger(ledger);
  await createNetns(ns);
  await mustExec(['ip', '-n', ns, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
  await mustExec(['ip', '-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', ifA]);
  await mustExec(['ip', '-n', ns, 'addr', 'add', '192.0.2.2/24', 'dev', ifB]);
  await mustExec(['ip', '-n', ns, 'link', 'set', ifA, 'up']);
  await mustExec(['ip', '-n', ns, 'link', 'set', ifB, 'up']);
  etcd = await startEtcd({ netns: ns, enableV2: true });
  await etcdctl(etcd.clientUrl, ['put', `${prefix}/config`, config], { netns: ns });
});

after(async () => {
  for (const d of daemons) {
    if (d.child.pid !== undefined && isAlive(d.child.pid)) d.child.kill('SIGKILL');
  }
  await stopAllEtcd();
  if (ledger) {
    await removeNetns(ns).catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
    dropLedger(ledger.tag);
  }
});

test('two daemons lease distinct subnets, write subnet.env, leave leases on SIGTERM, and reclaim by PublicIP', { skip: skip ?? false }, async () => {
  const a = startDaemon('a', ifA, '192.0.2.1');
  const b = startDaemon('b', ifB, '192.0.2.2');
  const [envA, envB] = await Promise.all([subnetEnvOf(a), subnetEnvOf(b)]);

  const subnetA = subnetOf(envA);
  const subnetB = subnetOf(envB);
  assert.notEqual(subnetA, subnetB);
  for (const [env, subnet] of [[envA, subnetA], [envB, subnetB]] as const) {
    // Upstream's exact keys and order; MTU of the veth (alloc adds no overhead); --ip-masq not given.
    assert.equal(env, `FLANNEL_NETWORK=10.0.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`);
    assert.notEqual(subnet, '10.0.0.1/24', 'the first subnet is skipped');
  }
  assert.equal(fs.statSync(a.subnetFile).mode & 0o777, 0o644);

  const keyOf = (subnet: string): string => `${prefix}/subnets/${subnet.replace('.1/24', '.0-24')}`;
  const leases = await leasesInEtcd();
  assert.deepEqual([...leases.keys()].sort(), [keyOf(subnetA), keyOf(subnetB)].sort());
  assert.equal(leases.get(keyOf(subnetA))?.value, '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"alloc"}');
  assert.equal(leases.get(keyOf(subnetB))?.value, '{"PublicIP":"192.0.2.2","PublicIPv6":null,"BackendType":"alloc"}');
  for (const l of leases.values()) assert.notEqual(l.lease, 0n, 'an etcd lease is attached');

  assert.equal(await terminate(a), 0);
  assert.match(a.output, /Exiting cleanly/);
  assert.doesNotMatch(a.output, /"level":(50|60)/, 'no error logged on a clean stop');
  assert.ok((await leasesInEtcd()).has(keyOf(subnetA)), 'the lease stays in etcd after exit');

  // Restart without subnet.env: the lease is found again by PublicIP.
  fs.rmSync(a.subnetFile);
  const again = startDaemon('a', ifA, '192.0.2.1');
  assert.equal(subnetOf(await subnetEnvOf(again)), subnetA);
  assert.equal((await leasesInEtcd()).size, 2, 'no second lease was created');

  assert.equal(await terminate(again), 0);
  assert.equal(await terminate(b), 0);
});

test('a new host honours the subnet of an earlier subnet.env', { skip: skip ?? false }, async () => {
  const dir = path.join(tmp, 'c', 'run');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.0.0.0/16\nFLANNEL_SUBNET=10.0.200.1/24\n'
    + 'FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n');
  const c = startDaemon('c', ifB, '192.0.2.3');
  await waitFor(async () => /wrote subnet file/.test(c.output) && subnetOf(fs.readFileSync(path.join(dir, 'subnet.env'), 'utf8')) === '10.0.200.1/24'
    && (await leasesInEtcd()).has(`${prefix}/subnets/10.0.200.0-24`), { what: 'the previous subnet to be leased', timeoutMs: 30_000, intervalMs: 200 });
  assert.equal((await leasesInEtcd()).get(`${prefix}/subnets/10.0.200.0-24`)?.value,
    '{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"alloc"}');
  assert.equal(await terminate(c), 0);
});

/** The `msg` of every JSON log line the daemon wrote so far. */
function messages(d: Daemon): string[] {
  return d.output.split('\n').flatMap((line) => {
    try {
      return [String((JSON.parse(line) as { msg?: unknown }).msg)];
    } catch {
      return [];
    }
  });
}

test('waits for a missing or invalid config with one clear line each; --backend overrides the type', { skip: skip ?? false }, async () => {
  assert.ok(etcd);
  const member = etcd;
  const waitPrefix = `/tsfl-wait-${tag}/network`;
  const put = (value: string): Promise<string> => etcdctl(member.clientUrl, ['put', `${waitPrefix}/config`, value], { netns: ns });
  const logged = (d: Daemon, re: RegExp, what: string): Promise<boolean> =>
    waitFor(() => messages(d).some((m) => re.test(m)), { what, timeoutMs: 20_000, intervalMs: 100 });

  const d = startDaemon('d', ifA, '192.0.2.4', [], waitPrefix);
  await logged(d, new RegExp(`^network config not found at ${waitPrefix}/config \\(looked in the etcd v3 and v2 stores\\): `
    + `create it with ETCDCTL_API=3 etcdctl put ${waitPrefix}/config `
    + `'\\{"Network":"10\\.0\\.0\\.0/16","Backend":\\{"Type":"vxlan"\\}\\}'`), 'the config-not-found line');
  await put('{"Network":"10.1.0.0"}');
  await logged(d, /^invalid Network "10\.1\.0\.0" in the network config: use an IPv4 CIDR/, 'the invalid-config line');
  // Logged once per distinct reason, not every second.
  assert.equal(messages(d).filter((m) => m.includes('config not found')).length, 1);
  await put('{"Network":"10.1.0.0/16","Backend":{"Type":"NoSuchBackend"}}');
  assert.equal(await d.exited, 1, 'an unknown backend type is a startup error');
  assert.ok(messages(d).some((m) => /^unknown backend type "nosuchbackend": use one of [a-z, -]*alloc/.test(m)), d.output);
  assert.doesNotMatch(d.output, /\n\s+at /, 'no stack trace');

  const e = startDaemon('e', ifA, '192.0.2.4', ['--backend', 'alloc'], waitPrefix);
  assert.match(await subnetEnvOf(e), /^FLANNEL_NETWORK=10\.1\.0\.0\/16\nFLANNEL_SUBNET=10\.1\.\d+\.1\/24\n/);
  assert.equal(await terminate(e), 0);
});

test('SIGTERM while waiting for the config exits 0', { skip: skip ?? false }, async () => {
  const f = startDaemon('f', ifA, '192.0.2.5', [], `/tsfl-none-${tag}/network`);
  await waitFor(() => messages(f).some((m) => m.startsWith('network config not found')), { what: 'the config-not-found line', timeoutMs: 20_000 });
  assert.equal(await terminate(f), 0);
  assert.ok(messages(f).includes('Exiting cleanly...'));
});

test('a deleted lease is re-acquired and subnet.env rewritten', { skip: skip ?? false }, async () => {
  assert.ok(etcd);
  const g = startDaemon('g', ifB, '192.0.2.6');
  const subnet = subnetOf(await subnetEnvOf(g));
  const key = `${prefix}/subnets/${subnet.replace('.1/24', '.0-24')}`;
  await etcdctl(etcd.clientUrl, ['del', key], { netns: ns });
  await waitFor(() => messages(g).includes('lease re-acquired') && messages(g).filter((m) => m === 'wrote subnet file').length === 2,
    { what: 'the lease to be re-acquired and subnet.env rewritten', timeoutMs: 30_000, intervalMs: 100 });
  assert.equal((await leasesInEtcd()).get(key)?.value, '{"PublicIP":"192.0.2.6","PublicIPv6":null,"BackendType":"alloc"}',
    'the same subnet, still free, is taken again');
  assert.equal(subnetOf(fs.readFileSync(g.subnetFile, 'utf8')), subnet);
  assert.equal(await terminate(g), 0);
});

test('on a flannel 0.7 cluster (config only in the v2 store, set as the seed does) auto takes v2 and leases there', { skip: skip ?? false }, async () => {
  assert.ok(etcd);
  const member = etcd;
  const v2Prefix = `/tsfl-v2-${tag}/usr/local/bin/network`;
  // The seed: `etcdctl set /usr/local/bin/network/config < etcd.sh` with CentOS 7's etcdctl (API v2).
  await etcdctlV2(member.clientUrl, ['set', `${v2Prefix}/config`], { netns: ns, input: '{"Network":"10.2.0.0/16","Backend":{"Type":"alloc"}}\n' });
  await etcdctlV2(member.clientUrl, ['set', '--ttl', '600', `${v2Prefix}/subnets/10.2.7.0-24`,
    '{"PublicIP":"192.0.2.77","BackendType":"alloc"}'], { netns: ns });
  const h = startDaemon('h', ifA, '192.0.2.8', ['--subnet-lease-ttl', '300'], v2Prefix);
  const subnet = /^FLANNEL_SUBNET=(10\.2\.(\d+)\.1\/24)$/m.exec(await subnetEnvOf(h))?.[1];
  assert.ok(subnet && subnet !== '10.2.7.1/24', `a free subnet, not the 0.7 node's: ${subnet}`);
  assert.equal(messages(h).filter((m) => m.startsWith('using the etcd v2 API')).length, 1, h.output);
  const key = `${v2Prefix}/subnets/${subnet.replace('.1/24', '.0-24')}`;
  const stored = (JSON.parse(await etcdctlV2(member.clientUrl, ['-o', 'json', 'get', key], { netns: ns })) as { node: { value: string; ttl?: number } }).node;
  assert.deepEqual(JSON.parse(stored.value), { PublicIP: '192.0.2.8', PublicIPv6: null, BackendType: 'alloc' });
  assert.ok(stored.ttl !== undefined && stored.ttl > 0 && stored.ttl <= 300, `TTL ${stored.ttl}`);
  const v3 = await etcdctl(member.clientUrl, ['get', '--prefix', `${v2Prefix}/`, '--keys-only'], { netns: ns });
  assert.equal(v3.trim(), '', 'nothing written to the v3 store');
  assert.equal(await terminate(h), 0);
});
