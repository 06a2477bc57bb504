import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tallyPing } from '../support/ping-run.js';

const reply = (seq: number): string => `64 bytes from 10.9.2.2: icmp_seq=${seq} ttl=62 time=0.1 ms\n`;

test('tallyPing counts the answers and the longest run of lost echoes, the tail included', () => {
  const out = [1, 2, 3, 6, 7, 9].map(reply).join('') + 'From 192.0.2.12 icmp_seq=10 Destination Net Unreachable\n'
    + '\n--- 10.9.2.2 ping statistics ---\n12 packets transmitted, 6 received, 50% packet loss, time 1100ms\n';
  const r = tallyPing(out, 100);
  assert.deepEqual({ sent: r.sent, received: r.received, longestGap: r.longestGap }, { sent: 12, received: 6, longestGap: 3 });
  assert.match(r.summary, /^6 of 12 echoes answered \(6 lost, 50\.0 %\), longest outage 3 echoes ≈ 300 ms/);
  const clean = tallyPing([1, 2, 3].map(reply).join('') + '3 packets transmitted, 3 received, 0% packet loss\n', 200);
  assert.equal(clean.longestGap, 0);
});
