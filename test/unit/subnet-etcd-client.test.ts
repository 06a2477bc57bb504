import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokenCircuitError } from 'cockatiel';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { createEtcdClient, describeEtcdError, EtcdClientConfigError, isEtcdUnavailable } from '../../src/subnet/etcd-client.js';
import { RateLimitedLog, Backoff } from '../../src/subnet/retry-pacing.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

describe('isEtcdUnavailable', () => {
  it('treats an open circuit breaker like an unreachable etcd', () => {
    assert.ok(isEtcdUnavailable(new BrokenCircuitError()));
    assert.ok(isEtcdUnavailable(new GRPCUnavailableError('14 UNAVAILABLE: No connection established')));
    assert.ok(isEtcdUnavailable(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')));
  });
  it('does not hide other errors', () => {
    assert.ok(!isEtcdUnavailable(new EtcdLeaseInvalidError('7')));
    assert.ok(!isEtcdUnavailable(new Error('boom')));
    assert.ok(!isEtcdUnavailable('text'));
  });
  it('describes errors in one line', () => {
    assert.equal(describeEtcdError(new GRPCUnavailableError('14 UNAVAILABLE: x\nmore')), 'etcd unreachable (14 UNAVAILABLE: x)');
  });
});

describe('createEtcdClient', () => {
  it('rejects endpoints that mix http and https, naming the flag', () => {
    const { log } = recordingLogger();
    assert.throws(() => createEtcdClient({ endpoints: ['http://127.0.0.1:2379', 'https://127.0.0.1:2380'] }, log),
      (err: unknown) => err instanceof EtcdClientConfigError && err.message.startsWith('--etcd-endpoints mixes'));
    assert.throws(() => createEtcdClient({ endpoints: [' '] }, log), /--etcd-endpoints is empty/);
  });
  it('warns about plain http like upstream, and about half a TLS setup', () => {
    const rec = recordingLogger();
    createEtcdClient({ endpoints: ['127.0.0.1:2379'], certfile: '/x.pem' }, rec.log).close();
    assert.ok(rec.messages().includes('connecting to etcd with http. This is insecure'));
    assert.ok(rec.messages().some((m) => m.startsWith('only one of --etcd-keyfile and --etcd-certfile')));
    assert.deepEqual(rec.lines.find((l) => l.msg === 'etcd client created')?.endpoints, ['http://127.0.0.1:2379']);
  });
});

describe('retry pacing', () => {
  it('logs a repeating problem once per interval and the recovery once', () => {
    const rec = recordingLogger();
    const limited = new RateLimitedLog(rec.log, 60_000);
    for (let i = 0; i < 50; i++) limited.problem('etcd down');
    limited.clear('etcd back');
    limited.clear('etcd back');
    assert.deepEqual(rec.messages(), ['etcd down', 'etcd back']);
  });
  it('backs off exponentially up to the cap', () => {
    const b = new Backoff(100, 5000);
    assert.deepEqual(Array.from({ length: 8 }, () => b.next()), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    b.reset();
    assert.equal(b.next(), 100);
  });
});
