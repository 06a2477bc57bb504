import test from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_INDEX as C, COUNTER_NAMES } from '../../src/datapath/counters.js';
import { warmUpDatapath } from '../../src/datapath/warm-up.js';

test('JIT warm-up: every synthetic packet (ping, TCP ACK with a partial checksum, TCP data, UDP) is encapsulated and decapsulated, none dropped', () => {
  const iterations = 40;
  const counters = warmUpDatapath(iterations);
  assert.equal(counters[C.tx_packets], iterations);
  assert.equal(counters[C.rx_datagrams], iterations);
  assert.equal(counters[C.rx_packets], iterations);
  const drops = COUNTER_NAMES.filter((name) => name.startsWith('drop_') && counters[C[name]] !== 0);
  assert.deepEqual(drops, []);
});
