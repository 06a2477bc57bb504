// --etcd-api, the auto choice between the v2 and v3 stores, the create-config hint, doctor's and status's API lines,
// and the migrate-etcd plan (pure parts; the I/O runs in test/integration/migrate-etcd.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runChecks, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { describePlan, planMigration } from '../../src/ops/migrate-plan.js';
import { formatStatus, type StatusReport } from '../../src/ops/status.js';
import { OptionsError, parseOptions } from '../../src/options.js';
import { createConfigHint, sameConfigText } from '../../src/subnet/config-text.js';
import { divergenceWarning, pickRegistry } from '../../src/subnet/config-source.js';
import type { EtcdApi, LeaseRegistry } from '../../src/subnet/registry.js';

test('--etcd-api defaults to auto, takes v2/v3 from the flag or FLANNELD_ETCD_API, and names the fix otherwise', () => {
  assert.equal(parseOptions([], {}).etcdApi, 'auto');
  assert.equal(parseOptions(['--etcd-api=v2'], {}).etcdApi, 'v2');
  assert.equal(parseOptions(['-etcd-api', 'V3'], {}).etcdApi, 'v3');
  assert.equal(parseOptions([], { FLANNELD_ETCD_API: 'v2' }).etcdApi, 'v2');
  assert.throws(() => parseOptions(['--etcd-api=v4'], {}), (e: Error) =>
    e instanceof OptionsError && e.message === 'invalid --etcd-api "v4": expected v3, v2 or auto');
});

test('the create-config hint speaks the store\'s etcdctl dialect, with the daemon\'s example network', () => {
  assert.equal(createConfigHint('v3', '/p/config'), 'ETCDCTL_API=3 etcdctl put /p/config \'{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}\'');
  assert.equal(createConfigHint('v2', '/p/config', 'http://e:2379'),
    'ETCDCTL_API=2 etcdctl --endpoints=http://e:2379 set /p/config \'{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}\'');
});

const reg = (api: EtcdApi): LeaseRegistry => ({ api, configKey: '/p/config' }) as unknown as LeaseRegistry;

test('auto takes v3 when it has a config, else v2, else none; a v3-only or v2-only mode looks only there', () => {
  const both = [reg('v3'), reg('v2')];
  assert.equal(pickRegistry(both, new Map([['v3', '{}'], ['v2', '{}']]))?.api, 'v3');
  assert.equal(pickRegistry(both, new Map([['v3', null], ['v2', '{}']]))?.api, 'v2');
  assert.equal(pickRegistry(both, new Map([['v3', null], ['v2', null]])), null);
  assert.equal(pickRegistry([reg('v3')], new Map([['v3', null], ['v2', '{}']])), null);
});

test('configs that differ only in key order or spacing are the same; a differing pair is warned about', () => {
  fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }))), (obj) => {
    const reversed = Object.fromEntries(Object.entries(obj).reverse());
    return sameConfigText(JSON.stringify(obj), JSON.stringify(reversed, null, 2));
  }));
  const a = '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}';
  const b = '{ "Backend": {"Type":"vxlan"}, "Network": "10.0.0.0/16" }\n';
  assert.equal(divergenceWarning(new Map([['v3', a], ['v2', b]]), 'v3', '/p/config'), null);
  assert.equal(divergenceWarning(new Map([['v3', a], ['v2', null]]), 'v3', '/p/config'), null);
  assert.match(divergenceWarning(new Map([['v3', a], ['v2', '{"Network":"10.1.0.0/16"}']]), 'v3', '/p/config') ?? '',
    /^the v2 and v3 stores both hold \/p\/config and they differ; using the v3 one\./);
});

test('doctor names the API in use and warns when the stores disagree', () => {
  const facts = (apiWarning: string | null): DoctorFacts => ({
    ipForward: '1\n', filterSave: null, brNetfilter: true, vxlanModule: 'loaded', devTun: true,
    iface: { name: 'eth0', ifaceAddr: '192.0.2.11', extAddr: '192.0.2.11', mtu: 1500 }, subnetFile: '/x', subnetEnv: null,
    dockerBridgeMtu: null, boundUdpPorts: new Set(), vxlanDevices: [], daemonRunning: false, vxlanDatapath: 'userspace',
    backendOverride: null,
    etcd: { endpoints: 'http://e:2379', configKey: '/p/config', subnetsPrefix: '/p/subnets', error: null, config: null,
      configError: 'no network config at /p/config', leases: [], api: 'v2', apiWarning },
  }) as DoctorFacts;
  const rs = runChecks(facts(null));
  assert.deepEqual(rs.find((r) => r.id === 'etcd_api'), { id: 'etcd_api', status: 'ok', detail: 'using the etcd v2 API' });
  assert.equal(rs.find((r) => r.id === 'network_config')?.fix,
    'ETCDCTL_API=2 etcdctl --endpoints=http://e:2379 set /p/config \'{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}\'');
  assert.equal(runChecks(facts('they differ')).find((r) => r.id === 'etcd_api')?.status, 'warn');
  const dup = { ...facts(null), etcd: { ...facts(null).etcd, leases: [1, 2].map((i) => ({ subnet: { ip: (10 << 24) + (i << 8), prefixLen: 24 },
    attrs: { publicIP: '192.0.2.1', publicIPv6: null }, expiration: null, etcdLeaseId: '0', revision: '1' })) } } as DoctorFacts;
  assert.match(runChecks(dup).find((r) => r.id === 'duplicate_public_ip')?.fix ?? '',
    /remove the stale lease: ETCDCTL_API=2 etcdctl --endpoints=http:\/\/e:2379 rm \/p\/subnets\/10\.0\.2\.0-24 /);
});

test('status shows the etcd API line, with the warning when there is one', () => {
  const r: StatusReport = { network: '10.0.0.0/16', backend: 'vxlan', configKey: '/p/config', configError: null, etcdApi: 'v2',
    apiWarning: 'they differ', subnetFile: '/x', subnetEnv: null, own: null, peers: [],
    daemon: { running: false, pid: null, updated: null, counters: {} } };
  assert.match(formatStatus(r), /\netcd API: v2 \(WARNING: they differ\)\n/);
});

test('migration plan: copy what v3 lacks, keep what is the same, refuse a differing config without --force', () => {
  const base = { configKey: '/p/config', v2Config: '{"Network":"10.0.0.0/16"}',
    v2Leases: [{ key: '/p/subnets/10.0.1.0-24', value: 'A', ttl: 100 }, { key: '/p/subnets/10.0.2.0-24', value: 'B', ttl: null },
      { key: '/p/subnets/10.0.3.0-24', value: 'C', ttl: 0 }] };
  const first = planMigration({ ...base, v3Config: null, v3Leases: new Map(), force: false });
  assert.deepEqual([first.config.action, ...first.leases.map((s) => s.action)], ['copy', 'copy', 'copy', 'skip-expiring']);
  assert.equal(first.refusal, null);
  const again = planMigration({ ...base, v3Config: '{ "Network": "10.0.0.0/16" }',
    v3Leases: new Map([['/p/subnets/10.0.1.0-24', 'A'], ['/p/subnets/10.0.2.0-24', 'B']]), force: false });
  assert.deepEqual([again.config.action, ...again.leases.map((s) => s.action)], ['same', 'same', 'same', 'skip-expiring']);
  assert.match(describePlan(again, false).at(-1) ?? '', /^0 of 3 leases copied, 2 already there$/);
  const differ = planMigration({ ...base, v3Config: '{"Network":"10.9.0.0/16"}', v3Leases: new Map([['/p/subnets/10.0.1.0-24', 'X']]), force: false });
  assert.match(differ.refusal ?? '', /different config at \/p\/config .*--force/);
  assert.equal(differ.leases[0]?.action, 'keep-v3');
  const forced = planMigration({ ...base, v3Config: '{"Network":"10.9.0.0/16"}', v3Leases: new Map([['/p/subnets/10.0.1.0-24', 'X']]), force: true });
  assert.equal(forced.refusal, null);
  assert.deepEqual([forced.config.action, forced.leases[0]?.action], ['overwrite', 'overwrite']);
});
