// The etcd client options flanneld has: TLS (https + key/cert/CA files), username/password, several endpoints.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdctl, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { makeTestPki, type TestPki } from '../support/test-pki.js';
import { recordingLogger, uniquePrefix } from '../support/subnet-fixtures.js';
import { createEtcdClient, EtcdClientConfigError, isEtcdUnavailable } from '../../src/subnet/etcd-client.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

describe('etcd client options (real etcd)', { skip }, () => {
  let pki: TestPki;
  let tlsEtcd: EtcdMember;
  let plain: EtcdMember;

  before(async () => {
    pki = await makeTestPki();
    [tlsEtcd, plain] = await Promise.all([
      startEtcd({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile } }),
      startEtcd(),
    ]);
  });
  after(async () => {
    await stopAllEtcd();
    pki?.remove();
  });

  it('talks TLS with --etcd-keyfile/--etcd-certfile/--etcd-cafile and does not warn about http', async () => {
    const rec = recordingLogger();
    const client = createEtcdClient({ endpoints: [tlsEtcd.clientUrl], keyfile: pki.clientKey, certfile: pki.clientCert, cafile: pki.caFile }, rec.log);
    try {
      const prefix = uniquePrefix();
      await client.put(`${prefix}/config`).value('{"Network":"10.0.0.0/16"}');
      assert.equal(await new SubnetRegistry(client, prefix, rec.log).getConfigText(), '{"Network":"10.0.0.0/16"}');
      assert.ok(!rec.messages().some((m) => m.includes('insecure')));
    } finally {
      client.close();
    }
  });

  it('without both key and cert files speaks plain http (with the warning), which a TLS etcd refuses', async () => {
    const rec = recordingLogger();
    const client = createEtcdClient({ endpoints: [tlsEtcd.clientUrl.replace('https', 'http')], callTimeoutMs: 1000 }, rec.log);
    try {
      await assert.rejects(client.get('x').string(), (err: unknown) => isEtcdUnavailable(err));
      assert.ok(rec.messages().includes('connecting to etcd with http. This is insecure'));
    } finally {
      client.close();
    }
  });

  it('names the flag when a TLS file cannot be read', () => {
    const rec = recordingLogger();
    assert.throws(() => createEtcdClient({ endpoints: [tlsEtcd.clientUrl], keyfile: '/nonexistent/key.pem', certfile: pki.clientCert }, rec.log),
      (err: unknown) => err instanceof EtcdClientConfigError && /^cannot read --etcd-keyfile "\/nonexistent\/key.pem"/.test(err.message));
  });

  it('authenticates with username and password, and never logs the password', async () => {
    const password = 'pw-not-in-logs-31337';
    await etcdctl(plain.clientUrl, ['user', 'add', `root:${password}`]);
    await etcdctl(plain.clientUrl, ['auth', 'enable']);
    const rec = recordingLogger();
    const good = createEtcdClient({ endpoints: [plain.clientUrl], username: 'root', password }, rec.log);
    const anonymous = createEtcdClient({ endpoints: [plain.clientUrl], callTimeoutMs: 1000 }, rec.log);
    try {
      await good.put('/tsfl-auth/k').value('v');
      assert.equal(await good.get('/tsfl-auth/k').string(), 'v');
      await assert.rejects(anonymous.get('/tsfl-auth/k').string());
      assert.ok(!JSON.stringify(rec.lines).includes(password));
    } finally {
      await etcdctl(plain.clientUrl, ['--user', `root:${password}`, 'auth', 'disable']).catch(() => '');
      good.close();
      anonymous.close();
    }
  });

  it('fails over to the next endpoint when the first does not answer', async () => {
    const rec = recordingLogger();
    const client = createEtcdClient({ endpoints: ['http://127.0.0.1:9', plain.clientUrl], callTimeoutMs: 1000 }, rec.log);
    try {
      for (let i = 0; i < 5; i++) await client.put(`/tsfl-failover/${i}`).value('v');
      assert.equal((await client.getAll().prefix('/tsfl-failover/').keys()).length, 5);
    } finally {
      client.close();
    }
  });
});
