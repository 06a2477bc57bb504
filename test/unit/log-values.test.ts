import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyedRateLimit, LOG_VALUE_MAX, truncateForLog } from '../../src/log-values.js';
import { decodeLeaseAttrs } from '../../src/subnet/codec.js';
import { ConfigError, parseNetworkConfig } from '../../src/config/parse.js';

describe('foreign values in logs', () => {
  it('keeps short values and bounds long ones, saying how long they were', () => {
    assert.equal(truncateForLog('short'), 'short');
    const out = truncateForLog('x'.repeat(1_000_000));
    assert.ok(out.length < LOG_VALUE_MAX + 40, `${out.length}`);
    assert.match(out, /1000000 chars in all/);
    assert.equal(truncateForLog({ a: 1 }), '{"a":1}');
    fc.assert(fc.property(fc.string({ maxLength: 2000 }), (s) => {
      const t = truncateForLog(s);
      assert.ok(t.length <= LOG_VALUE_MAX + 40);
      assert.ok(t.startsWith(s.slice(0, LOG_VALUE_MAX)));
    }));
  });

  it('a 1 MB bad lease value or config field gives a bounded one-line error', () => {
    const big = 'A'.repeat(1_000_000);
    const cases: Array<() => unknown> = [
      () => decodeLeaseAttrs(big),
      () => decodeLeaseAttrs(`{"PublicIP":"${big}"}`),
      () => decodeLeaseAttrs(`{"PublicIP":"192.0.2.1","BackendType":{"x":"${big}"}}`),
      () => decodeLeaseAttrs(`{"PublicIP":"192.0.2.1","PublicIPv6":["${big}"]}`),
      () => parseNetworkConfig(`{"Network":"${big}"}`),
      () => parseNetworkConfig(`{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"},"SubnetLen":"${big}"}`),
      () => parseNetworkConfig(big),
    ];
    for (const [i, f] of cases.entries()) {
      assert.throws(f, (e: Error) => {
        assert.ok(e.message.length < 1000, `case ${i}: ${e.message.length} chars`);
        assert.ok(!e.message.includes('\n'), `case ${i}: more than one line`);
        return e instanceof ConfigError || e.name === 'LeaseValueError';
      });
    }
  });

  it('lets one line per key and interval through and counts the rest', () => {
    let now = 0;
    const pace = new KeyedRateLimit(1000, 2, () => now);
    assert.equal(pace.take('a'), 0);
    assert.equal(pace.take('a'), null);
    assert.equal(pace.take('a'), null);
    assert.equal(pace.take('b'), 0);
    now = 1000;
    assert.equal(pace.take('a'), 2);
    pace.take('c'); // over maxKeys: 'b' (the oldest) is forgotten
    assert.equal(pace.take('b'), 0);
  });
});
