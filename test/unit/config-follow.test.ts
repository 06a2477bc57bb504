// Which config changes a running daemon follows live: the Backend object only; a bad config or a new Network is
// said and changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextBackendConfig } from '../../src/config-follow.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

const current = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');

test('a new Backend is followed with the running Network; the same Backend is not a change', () => {
  const { log, lines } = recordingLogger('info');
  const next = nextBackendConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}', current, parseNetworkConfig, log);
  assert.equal(next?.backend.type, 'host-gw');
  assert.equal(nextBackendConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}', current, parseNetworkConfig, log), null);
  assert.deepEqual(lines, []);
});

test('a new Network is not followed (restart), an invalid config changes nothing; both are said', () => {
  const { log, lines } = recordingLogger('info');
  const next = nextBackendConfig('{"Network":"10.6.0.0/16","Backend":{"Type":"host-gw"}}', current, parseNetworkConfig, log);
  assert.equal(next?.network.ip, current.network.ip, 'the running Network stays');
  assert.match(lines[0]!.msg, /restart the daemons/);
  assert.equal(nextBackendConfig('{"Network":', current, parseNetworkConfig, log), null);
  assert.equal(lines[1]!.level, 50);
  assert.match(lines[1]!.msg, /ignored/);
});
