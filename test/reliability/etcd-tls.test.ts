// Issue 20 item 8: TLS edges. `--etcd-cafile` alone is server-only TLS (https, the server verified against the CA,
// no client certificate) and the log says https; a certificate and key that do not match end the daemon with one
// line naming both flags; nothing but JSON log lines reaches stderr (no raw Node warnings).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdctl, startEtcd, type EtcdMember } from '../support/etcd.js';
import { makeTestPki, type TestPki } from '../support/test-pki.js';
import { Lab, labUnavailable } from '../support/daemon-lab.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';
const skip = labUnavailable();

/** stderr lines that are not pino JSON records (a raw warning, a stack trace). */
const rawLines = (output: string): string[] => output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));

describe('etcd TLS edges', { skip: skip ?? false, timeout: 120_000 }, () => {
  let lab: Lab;
  let pki: TestPki;
  let serverOnly: EtcdMember;

  before(async () => {
    lab = await Lab.create(2);
    pki = await makeTestPki();
    serverOnly = await startEtcd({ netns: lab.ns,
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile, serverOnly: true } });
    await etcdctl(serverOnly.clientUrl, ['--cacert', pki.caFile, 'put', '/coreos.com/network/config', CONFIG], { netns: lab.ns });
  });

  after(async () => {
    await serverOnly?.destroy().catch(() => undefined);
    await lab?.destroy();
    pki?.remove();
  });

  it('speaks https with --etcd-cafile alone, says so, and verifies the server', async () => {
    const d = lab.startDaemon({ name: 'ca', ip: lab.ips[0] as string, endpoints: serverOnly.clientUrl,
      extra: ['--etcd-cafile', pki.caFile] });
    const env = await lab.subnetEnvOf(d);
    assert.match(env, /^FLANNEL_SUBNET=10\.0\.\d+\.1\/24$/m);
    const msgs = logRecords(d.output).map((r) => String(r.msg));
    assert.ok(msgs.includes('connecting to etcd with https'), d.output);
    assert.ok(!msgs.some((m) => m.startsWith('connecting to etcd with http.')), d.output);
    assert.equal(await lab.terminate(d), 0);
    assert.deepEqual(rawLines(d.output), []);
    assert.deepEqual(stackTraces(d.output), []);
  });

  it('does not trust a server its CA did not sign', async () => {
    const other = await makeTestPki();
    try {
      const d = lab.startDaemon({ name: 'wrongca', ip: lab.ips[1] as string, endpoints: serverOnly.clientUrl,
        extra: ['--etcd-cafile', other.caFile] });
      await new Promise((r) => setTimeout(r, 4000));
      assert.equal(d.child.exitCode, null, d.output);
      assert.ok(!d.output.includes('wrote subnet file'), `leased through an unverified server:\n${d.output}`);
      assert.equal(await lab.terminate(d), 0);
      assert.deepEqual(rawLines(d.output), []);
    } finally {
      other.remove();
    }
  });

  it('exits 1 with one line naming --etcd-certfile and --etcd-keyfile when they do not match', async () => {
    const d = lab.startDaemon({ name: 'mismatch', ip: lab.ips[1] as string, endpoints: serverOnly.clientUrl,
      extra: ['--etcd-cafile', pki.caFile, '--etcd-certfile', pki.clientCert, '--etcd-keyfile', pki.serverKey] });
    assert.equal(await d.exited, 1);
    const bad = logRecords(d.output).filter((r) => Number(r.level) >= 50);
    assert.equal(bad.length, 1, d.output);
    assert.match(String(bad[0]?.msg), /--etcd-certfile ".*client\.crt" and --etcd-keyfile ".*server\.key" do not match/);
    assert.deepEqual(rawLines(d.output), []);
    assert.deepEqual(stackTraces(d.output), []);
  });
});
