import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { ETCD_DEFAULT_POLICY, ETCD_KEEPALIVE, grpcRecord } from '../../src/subnet/grpc-logging.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

/** grpc-js's own log function, from the copy etcd3 loads (the one the daemon's etcd client uses). */
function grpcLog(): (severity: number, ...args: unknown[]) => void {
  const fromEtcd3 = createRequire(require.resolve('etcd3'));
  const logging = fromEtcd3('@grpc/grpc-js/build/src/logging') as { log: (s: number, ...a: unknown[]) => void };
  return logging.log;
}

describe('gRPC keepalive and logging', () => {
  it('pings no more often than etcd\'s default enforcement allows, and never on a connection without a call', () => {
    assert.ok(ETCD_KEEPALIVE['grpc.keepalive_time_ms'] >= ETCD_DEFAULT_POLICY.minTimeMs);
    if (!ETCD_DEFAULT_POLICY.permitWithoutStream) assert.equal(ETCD_KEEPALIVE['grpc.keepalive_permit_without_calls'], 0);
  });

  it('maps grpc-js severities to pino levels and keeps the message on one line', () => {
    assert.deepEqual(grpcRecord('error', ['Connection to x rejected by server because of excess pings.\n Increasing']),
      { level: 'warn', msg: 'grpc: Connection to x rejected by server because of excess pings. Increasing' });
    assert.equal(grpcRecord('info', ['a']).level, 'debug');
    assert.equal(grpcRecord('debug', [new Error('b'), 3]).msg, 'grpc: b 3');
  });

  it('a grpc-js error after the etcd client exists is a JSON log record, not a raw stderr line', () => {
    const rec = recordingLogger('debug');
    const written: string[] = [];
    const origError = console.error;
    console.error = (...a: unknown[]) => { written.push(a.join(' ')); };
    try {
      const client = createEtcdClient({ endpoints: ['http://127.0.0.1:1'] }, rec.log);
      grpcLog()(2, 'Connection to dns:127.0.0.1:1 rejected by server because of excess pings. Increasing ping interval to 20000 ms');
      client.close();
    } finally {
      console.error = origError;
    }
    assert.deepEqual(written, []);
    const line = rec.lines.find((l) => String(l.msg).includes('excess pings'));
    assert.ok(line, `no log record for the grpc line; got ${JSON.stringify(rec.messages())}`);
    assert.equal(line.component, 'grpc');
    assert.equal(line.level, 40);
  });
});
