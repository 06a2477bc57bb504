// With iptables-nft the rules are looked at when nf_tables announces a change, not by forking iptables-save every
// --iptables-resync seconds. The period here is an hour, so only the announcement can bring a deleted rule back
// within the test's time; a change that leaves our rules alone is looked at and rebuilds nothing.
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { inNetns, mustExec } from '../support/netns.js';
import { missingPrerequisite } from '../support/prerequisites.js';
import { spawnTracked, terminateTracked, waitFor } from '../support/proc.js';
import { scratchNetns } from '../support/scratch-netns.js';
import { UPSTREAM_FWD, UPSTREAM_MASQ } from '../fixtures/upstream-rules.js';
import type { TrafficOptions } from '../../src/trafficmngr/traffic-manager.js';

const OPTS: TrafficOptions = {
  nftables: false, ipMasq: true, forwardRules: true, fullyRandomDisabled: false, resyncSeconds: 3600, blackholeRoute: false,
};

const nftVariant = (): boolean => /\(nf_tables\)/.test(execFileSync('iptables', ['--version'], { encoding: 'utf8' }));
const skip = missingPrerequisite({ commands: ['iptables-restore', 'iptables-save', 'nft'] })
  ?? (nftVariant() ? false : 'iptables is iptables-legacy: no nf_tables announcements to watch');
const freshNetns = scratchNetns('tsfw', 'ops-traffic-watch');

interface Report { readonly rebuilds: number; readonly checks: number; readonly watching: boolean }

async function ruleLines(ns: string, table: string): Promise<string[]> {
  const out = await mustExec(inNetns(ns, ['iptables-save', '-t', table]));
  return out.split('\n').filter((l) => l.startsWith('-A '));
}

test('a rule deleted by hand is back long before the resync period, announced by nf_tables', { skip, timeout: 60_000 }, async () => {
  const ns = await freshNetns('del');
  const args = JSON.stringify({ options: OPTS, network: '10.5.0.0/16', subnet: '10.5.52.0/24', steps: ['start'], hold: true });
  const agent = path.join(__dirname, '..', 'support', 'agents', 'traffic-run.js');
  const child = spawnTracked('ip', ['netns', 'exec', ns, process.execPath, agent, args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const reports: Report[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.startsWith('{"rebuilds"')) reports.push(JSON.parse(l) as Report);
  });
  const report = async (): Promise<Report> => {
    const n = reports.length;
    child.stdin!.write('report\n');
    return waitFor(() => reports[n], { what: 'a report from the traffic manager' });
  };
  try {
    const first = await waitFor(() => reports[0], { what: 'the traffic manager to apply its rules', timeoutMs: 30_000 });
    assert.equal(first.watching, true, 'nf_tables changes are watched');
    assert.deepEqual(await ruleLines(ns, 'nat'), UPSTREAM_MASQ);

    // Someone else's change: looked at, nothing rebuilt.
    await mustExec(inNetns(ns, ['iptables', '-t', 'filter', '-A', 'INPUT', '-s', '198.51.100.0/24', '-j', 'ACCEPT']));
    await waitFor(async () => (await report()).checks > first.checks, { what: 'a look after a foreign change', timeoutMs: 30_000 });
    assert.equal((await report()).rebuilds, first.rebuilds, 'a foreign rule rebuilds nothing');

    await mustExec(inNetns(ns, ['iptables', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '-s', '10.5.52.0/24', '-d', '10.5.0.0/16',
      '-m', 'comment', '--comment', 'flanneld masq', '-j', 'RETURN']));
    await waitFor(async () => JSON.stringify(await ruleLines(ns, 'nat')) === JSON.stringify(UPSTREAM_MASQ),
      { what: 'the deleted masquerade rule to come back', timeoutMs: 30_000, intervalMs: 100 });
    const filter = await ruleLines(ns, 'filter');
    assert.ok(filter.includes('-A INPUT -s 198.51.100.0/24 -j ACCEPT'), 'the foreign rule stays');
    assert.deepEqual(filter.filter((l) => l.includes('flanneld forward')), UPSTREAM_FWD);
    assert.equal((await report()).rebuilds, first.rebuilds + 1);
  } finally {
    child.stdin!.end();
    await terminateTracked(child, exited);
  }
});
