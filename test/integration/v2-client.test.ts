// The etcd v2 client's options, as for v3: TLS (https + key/cert/CA files), basic auth (a permission error names the
// flags), and failover to the next endpoint.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdctlV2, startEtcd, stopAllEtcd, type EtcdMember } from '../support/etcd.js';
import { makeTestPki, type TestPki } from '../support/test-pki.js';
import { recordingLogger, uniquePrefix } from '../support/subnet-fixtures.js';
import { EtcdV2Client, EtcdV2Error } from '../../src/subnet/v2/client.js';
import { V2SubnetRegistry } from '../../src/subnet/v2/registry.js';
import { isEtcdUnavailable } from '../../src/subnet/etcd-client.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

describe('etcd v2 client options (real etcd --enable-v2)', { skip }, () => {
  let pki: TestPki;
  let tlsEtcd: EtcdMember;
  let plain: EtcdMember;
  const rec = recordingLogger();

  before(async () => {
    pki = await makeTestPki();
    [tlsEtcd, plain] = await Promise.all([
      startEtcd({ enableV2: true, tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile } }),
      startEtcd({ enableV2: true }),
    ]);
  });
  after(async () => {
    await stopAllEtcd();
    pki?.remove();
  });

  it('talks TLS with key, certificate and CA files', async () => {
    const c = new EtcdV2Client({ endpoints: [tlsEtcd.clientUrl], keyfile: pki.clientKey, certfile: pki.clientCert, cafile: pki.caFile }, rec.log);
    try {
      const prefix = uniquePrefix();
      await c.set(`${prefix}/config`, '{"Network":"10.50.0.0/16"}');
      assert.equal(await new V2SubnetRegistry(c, prefix, rec.log).getConfigText(), '{"Network":"10.50.0.0/16"}');
    } finally {
      c.close();
    }
    // Without a client certificate the TLS etcd refuses: reported as unreachable, one line.
    const anonymous = new EtcdV2Client({ endpoints: [tlsEtcd.clientUrl], cafile: pki.caFile, callTimeoutMs: 2000 }, rec.log);
    try {
      await assert.rejects(anonymous.get('/x'), (e: Error) => isEtcdUnavailable(e) && !e.message.includes('\n')
        && /TLS handshake failed \(.*bad certificate\): check --etcd-cafile, --etcd-certfile and --etcd-keyfile$/.test(e.message));
    } finally {
      anonymous.close();
    }
  });

  it('authenticates with username and password; without them a permission error names the flags', async () => {
    const password = 'pw-v2-not-in-logs-4242';
    const ctl = (args: string[]): Promise<string> => etcdctlV2(plain.clientUrl, args);
    await ctl(['user', 'add', `root:${password}`]);
    await ctl(['auth', 'enable']);
    await ctl(['--username', `root:${password}`, 'role', 'revoke', 'guest', '--path', '/*', '--readwrite']);
    const good = new EtcdV2Client({ endpoints: [plain.clientUrl], username: 'root', password }, rec.log);
    const anonymous = new EtcdV2Client({ endpoints: [plain.clientUrl] }, rec.log);
    try {
      await good.set('/tsfl-auth/k', 'v');
      assert.equal((await good.get('/tsfl-auth/k')).node.value, 'v');
      await assert.rejects(anonymous.get('/tsfl-auth/k'), (e: Error) =>
        e instanceof EtcdV2Error && /permission denied.*--etcd-username\/--etcd-password/.test(e.message));
      assert.ok(!JSON.stringify(rec.lines).includes(password));
    } finally {
      await ctl(['--username', `root:${password}`, 'auth', 'disable']).catch(() => '');
      good.close();
      anonymous.close();
    }
  });

  it('fails over to the next endpoint when the first does not answer', async () => {
    const c = new EtcdV2Client({ endpoints: ['http://127.0.0.1:9', plain.clientUrl], callTimeoutMs: 1000 }, rec.log);
    try {
      for (let i = 0; i < 3; i++) await c.set(`/tsfl-failover/${i}`, 'v');
      assert.equal((await c.get('/tsfl-failover', { recursive: true })).node.nodes?.length, 3);
    } finally {
      c.close();
    }
  });
});
