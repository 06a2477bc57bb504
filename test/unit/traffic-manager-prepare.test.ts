import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { CommandResult } from '../../src/trafficmngr/exec.js';
import { TrafficManager, type TrafficOptions } from '../../src/trafficmngr/traffic-manager.js';
import { NETWORK as N, SUBNET as S } from '../fixtures/upstream-rules.js';

const OPTS: TrafficOptions = {
  nftables: false, ipMasq: true, forwardRules: true, fullyRandomDisabled: false, resyncSeconds: 0, blackholeRoute: false,
};
const quiet = pino({ level: 'silent' });

/** Records each tool run; iptables answers as an empty nf_tables 1.8 would, nft as a host without flannel's tables. */
function recorder(failSave = false): { runs: string[]; run: (argv: readonly string[]) => Promise<CommandResult> } {
  const runs: string[] = [];
  return {
    runs,
    run: async (argv) => {
      runs.push(argv.join(' '));
      if (argv[0] === 'nft') return { code: 0, stdout: 'table ip filter\n', stderr: '' };
      if (argv[0] === 'iptables') return { code: 0, stdout: 'iptables v1.8.9 (nf_tables)\n', stderr: '' };
      if (argv[0] === 'iptables-save') {
        return failSave ? { code: 4, stdout: '', stderr: 'iptables-save: cannot open table' }
          : { code: 0, stdout: `*${argv[2]}\n:FLANNEL-POSTRTG - [0:0]\n:FLANNEL-FWD - [0:0]\nCOMMIT\n`, stderr: '' };
      }
      return { code: 0, stdout: '', stderr: '' };
    },
  };
}

test('prepare() puts the forward (filter) rules in place before the lease; start() then only adds the masquerade (nat) set', async () => {
  const r = recorder();
  const tm = new TrafficManager(OPTS, r.run, quiet, null);
  await tm.prepare(N);
  assert.deepEqual(r.runs.filter((c) => c.startsWith('iptables-')), ['iptables-save -t filter', 'iptables-restore --noflush --wait']);
  assert.deepEqual(r.runs.filter((c) => c.startsWith('nft')), ['nft list tables'], 'the other manager is looked for (once) in prepare');
  const before = r.runs.length;
  await tm.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  assert.deepEqual(r.runs.slice(before), ['iptables-save -t nat', 'iptables-restore --noflush --wait']);
  assert.equal(tm.rulesInPlace, true);
  tm.stop();
  // A later start (a re-acquired lease) has no prepared work: it does all of it again.
  const again = r.runs.length;
  await tm.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null });
  assert.deepEqual(r.runs.slice(again).filter((c) => c.startsWith('iptables-save')), ['iptables-save -t filter', 'iptables-save -t nat']);
  tm.stop();
});

test('a failure of the prepared work is reported by start(), with the failing command', async () => {
  const tm = new TrafficManager(OPTS, recorder(true).run, quiet, null);
  await tm.prepare(N); // never rejects
  await assert.rejects(tm.start({ network: N, subnet: S, prevNetwork: null, prevSubnet: null }), /iptables-save -t filter` exited 4/);
  assert.equal(tm.rulesInPlace, false);
});

test('probe() starts the read-only runs (version, nft tables) early; the clean-up then uses that nft list', async () => {
  const r = recorder();
  const tm = new TrafficManager(OPTS, r.run, quiet, null);
  tm.probe();
  assert.deepEqual(r.runs, ['iptables --version', 'nft list tables']);
  await tm.prepare(N);
  assert.equal(r.runs.filter((c) => c === 'nft list tables' || c === 'iptables --version').length, 2, 'neither runs again');
  assert.deepEqual(r.runs.slice(2), ['iptables-save -t filter', 'iptables-restore --noflush --wait']);
});

