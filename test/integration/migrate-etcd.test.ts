// `tsflanneld migrate-etcd --from v2 --to v3` (the built CLI) against a real etcd --enable-v2 holding a network as the
// seed writes it: the dry run prints and writes nothing, the real run copies config and leases (TTL as a v3 lease),
// a second run is a no-op, and a differing v3 config is refused without --force.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdctl, etcdctlV2, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { run } from '../support/proc.js';
import { uniquePrefix } from '../support/subnet-fixtures.js';
import { CLI_JS } from '../support/testbed.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true, cli: true }) ?? false;

const CONFIG = '{"Network":"10.40.0.0/16","Backend":{"Type":"vxlan"}}';
const lease = (ip: string): string => `{"PublicIP":"${ip}","BackendType":"vxlan","BackendData":{"VtepMAC":"aa:bb:cc:dd:ee:01"}}`;

describe('migrate-etcd v2 → v3 (real etcd, built CLI)', { skip }, () => {
  let etcd: EtcdMember;
  before(async () => {
    etcd = await startEtcd({ enableV2: true });
  });
  after(async () => {
    await stopAllEtcd();
  });

  const migrate = (prefix: string, ...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    run(process.execPath, [CLI_JS, 'migrate-etcd', '--etcd-endpoints', etcd.clientUrl, '--etcd-prefix', prefix,
      '--from', 'v2', '--to', 'v3', ...extra], { allowFail: true, timeoutMs: 20_000 });
  const v3Get = async (key: string): Promise<string> => (await etcdctl(etcd.clientUrl, ['get', '--print-value-only', key])).trim();

  async function seed(prefix: string): Promise<void> {
    await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/config`], { input: CONFIG });
    await etcdctlV2(etcd.clientUrl, ['set', '--ttl', '600', `${prefix}/subnets/10.40.1.0-24`, lease('192.0.2.1')]);
    await etcdctlV2(etcd.clientUrl, ['set', `${prefix}/subnets/10.40.2.0-24`, lease('192.0.2.2')]);
  }

  it('prints the plan on a dry run and writes nothing', async () => {
    const prefix = uniquePrefix();
    await seed(prefix);
    const r = await migrate(prefix, '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`config ${prefix}/config: would copy`));
    assert.match(r.stdout, new RegExp(`lease ${prefix}/subnets/10.40.1.0-24: would copy, TTL \\d+ s as a v3 lease`));
    assert.match(r.stdout, new RegExp(`lease ${prefix}/subnets/10.40.2.0-24: would copy, no TTL \\(reservation\\)`));
    assert.match(r.stdout, /dry run, nothing written: 2 of 2 leases to copy/);
    assert.equal(await v3Get(`${prefix}/config`), '');
    const st = await run(process.execPath, [CLI_JS, 'status', '--json', '--etcd-endpoints', etcd.clientUrl, '--etcd-prefix', prefix,
      '--subnet-file', `/nonexistent-${process.pid}/subnet.env`, '--state-dir', `/nonexistent-${process.pid}`], { allowFail: true, timeoutMs: 20_000 });
    const report = JSON.parse(st.stdout) as { etcdApi?: string; apiWarning?: string | null; peers: unknown[]; network: string };
    assert.deepEqual([report.etcdApi, report.apiWarning, report.network, report.peers.length], ['v2', null, '10.40.0.0/16', 2]);
  });

  it('copies config and leases (TTL as a v3 lease), then a second run changes nothing', async () => {
    const prefix = uniquePrefix();
    await seed(prefix);
    const r = await migrate(prefix);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 of 2 leases copied, 0 already there/);
    assert.equal(await v3Get(`${prefix}/config`), CONFIG);
    assert.equal(await v3Get(`${prefix}/subnets/10.40.1.0-24`), lease('192.0.2.1'));
    // Lease ids exceed 2^53: read the digits, not a JSON number.
    const raw = await etcdctl(etcd.clientUrl, ['get', '-w', 'json', `${prefix}/subnets/10.40.1.0-24`]);
    const leaseId = BigInt(/"lease":(\d+)/.exec(raw)?.[1] ?? '0').toString(16);
    assert.notEqual(leaseId, '0');
    const ttl = await etcdctl(etcd.clientUrl, ['lease', 'timetolive', leaseId]);
    const remaining = Number(/remaining\((\d+)s\)/.exec(ttl)?.[1] ?? -1);
    assert.ok(remaining > 500 && remaining <= 600, ttl);
    const reservation = JSON.parse(await etcdctl(etcd.clientUrl, ['get', '-w', 'json', `${prefix}/subnets/10.40.2.0-24`])) as { kvs: Array<{ lease?: number }> };
    assert.equal(reservation.kvs[0]!.lease ?? 0, 0);
    const revBefore = (JSON.parse(await etcdctl(etcd.clientUrl, ['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision;
    const again = await migrate(prefix);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /config .*: already in v3, the same/);
    assert.match(again.stdout, /0 of 2 leases copied, 2 already there/);
    const revAfter = (JSON.parse(await etcdctl(etcd.clientUrl, ['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision;
    assert.equal(revAfter, revBefore);
  });

  it('refuses to overwrite a differing v3 config without --force, and does with it', async () => {
    const prefix = uniquePrefix();
    await seed(prefix);
    const other = '{"Network":"10.41.0.0/16","Backend":{"Type":"host-gw"}}';
    await etcdctl(etcd.clientUrl, ['put', `${prefix}/config`, other]);
    const r = await migrate(prefix);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tsflanneld migrate-etcd: the v3 store already holds a different config at .*--force/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(await v3Get(`${prefix}/config`), other);
    assert.equal(await v3Get(`${prefix}/subnets/10.40.1.0-24`), '');
    // status names the API it reads and warns about the two differing configs.
    const st = await run(process.execPath, [CLI_JS, 'status', '--json', '--etcd-endpoints', etcd.clientUrl, '--etcd-prefix', prefix,
      '--subnet-file', `/nonexistent-${process.pid}/subnet.env`, '--state-dir', `/nonexistent-${process.pid}`], { allowFail: true, timeoutMs: 20_000 });
    const report = JSON.parse(st.stdout) as { etcdApi?: string; apiWarning?: string | null; network: string };
    assert.equal(report.etcdApi, 'v3');
    assert.equal(report.network, '10.41.0.0/16');
    assert.match(report.apiWarning ?? '', /^the v2 and v3 stores both hold .*\/config and they differ; using the v3 one/);
    const forced = await migrate(prefix, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /overwrote the v3 value \(--force\)/);
    assert.equal(await v3Get(`${prefix}/config`), CONFIG);
  });

  it('says there is nothing to migrate when the v2 store has no config', async () => {
    const r = await migrate(uniquePrefix());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no network config in the v2 store at .*\/config: nothing to migrate/);
  });
});
