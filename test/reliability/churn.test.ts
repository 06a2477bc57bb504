// Reliability 7 (issue 7): 200 synthetic peers joining and leaving in rounds while a daemon follows them, on host-gw
// (routes) and on kernel vxlan (routes, ARP and FDB entries). At the end every kernel entry matches the leases
// exactly; between rounds the daemon's RSS and open file descriptors are sampled and must level off, not climb.
// `npm test` runs a short form; `npm run test:soak` runs rounds for SOAK_SECONDS per datapath.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { mustExec, inNetns } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Host } from '../support/testbed.js';
import { fdCount, rssMiB, stackTraces } from '../support/proc-stats.js';

const PEERS = 200;
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? '0');
const SHORT_ROUNDS = 16;
const AGENT = path.join(__dirname, '..', 'support', 'agents', 'churn-agent.js');
const VXLAN_DEVICE = 'flannel.1';
const skip = testbedUnavailable(['bridge']);

interface PeerLease {
  readonly subnet: string;
  readonly publicIP: string;
  readonly mac?: string;
}

interface Datapath {
  readonly name: string;
  readonly backend: string;
  readonly daemonArgs: readonly string[];
  /** The kernel entries one peer lease should produce, as lines comparable with `actual`. */
  expected(p: PeerLease): string[];
  /** The kernel entries for synthetic peers (10.8.x.0/24) present on the host. */
  actual(tb: Testbed, h: Host): Promise<string[]>;
}

const lines = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');

const DATAPATHS: readonly Datapath[] = [
  {
    name: 'host-gw',
    backend: 'host-gw',
    daemonArgs: [],
    expected: (p) => [`route ${p.subnet} via ${p.publicIP}`],
    actual: async (tb, h) => (await tb.routes(h)).filter((r) => r.startsWith('10.8.'))
      .map((r) => `route ${r.split(' ').slice(0, 3).join(' ')}`),
  },
  {
    name: 'vxlan, kernel datapath',
    backend: 'vxlan',
    daemonArgs: ['--vxlan-datapath', 'kernel'],
    expected: (p) => {
      const ip = p.subnet.replace('/24', '');
      return [`route ${p.subnet} via ${ip} onlink`, `neigh ${ip} lladdr ${p.mac} PERMANENT`,
        `fdb ${p.mac} dst ${p.publicIP} self permanent`];
    },
    actual: async (tb, h) => {
      const routes = lines(await mustExec(['ip', '-n', h.netns, '-4', 'route', 'show', 'dev', VXLAN_DEVICE]))
        .filter((r) => r.startsWith('10.8.')).map((r) => `route ${r}`);
      const neigh = lines(await mustExec(['ip', '-n', h.netns, 'neigh', 'show', 'dev', VXLAN_DEVICE]))
        .filter((r) => r.startsWith('10.8.')).map((r) => `neigh ${r}`);
      const fdb = lines(await mustExec(inNetns(h.netns, ['bridge', 'fdb', 'show', 'dev', VXLAN_DEVICE])))
        .filter((r) => r.startsWith('02:c0:')).map((r) => `fdb ${r}`);
      return [...routes, ...neigh, ...fdb];
    },
  },
];

for (const dp of DATAPATHS) {
  describe(`churn of ${PEERS} peers (${dp.name})`, { skip: skip ?? false,
    timeout: SOAK_SECONDS > 0 ? (SOAK_SECONDS + 300) * 1000 : 120_000 }, () => {
    let tb: Testbed;
    let h1: Host;

    before(async () => {
      tb = await Testbed.create({ hosts: 1 });
      h1 = tb.host(1);
      await tb.putConfig({ Network: '10.0.0.0/12', SubnetLen: 24, Backend: { Type: dp.backend } });
      tb.startDaemon(h1, dp.daemonArgs);
      await tb.waitForSubnetEnv(h1);
    });

    after(async () => {
      await tb?.destroy();
    });

    async function expectedEntries(): Promise<string[]> {
      const out: string[] = [];
      for (const [key, value] of await tb.leases()) {
        const m = /\/subnets\/(10\.8\.\d+\.0)-24$/.exec(key);
        if (!m) continue;
        const v = JSON.parse(value) as { PublicIP: string; BackendData?: { VtepMAC?: string } };
        out.push(...dp.expected({ subnet: `${m[1]}/24`, publicIP: v.PublicIP, ...(v.BackendData?.VtepMAC ? { mac: v.BackendData.VtepMAC } : {}) }));
      }
      return out.sort();
    }

    async function converged(): Promise<{ have: string[]; want: string[] }> {
      const [have, want] = [(await dp.actual(tb, h1)).sort(), await expectedEntries()];
      return { have, want };
    }

    it('ends with kernel entries that match the leases, and RSS and fds that level off', async () => {
      const pid = h1.daemon?.pid;
      assert.ok(pid !== undefined);
      const samples: Array<{ rss: number; fds: number }> = [];
      const started = Date.now();
      let rounds = 0;
      let changes = 0;
      const more = (): boolean => (SOAK_SECONDS > 0 ? Date.now() - started < SOAK_SECONDS * 1000 : rounds < SHORT_ROUNDS);
      while (more()) {
        const out = await mustExec(inNetns(h1.netns, [process.execPath, AGENT, tb.etcdEndpoint, tb.prefix, String(PEERS), dp.backend]),
          { timeoutMs: 60_000 });
        const { puts, deletes } = JSON.parse(out) as { puts: number; deletes: number };
        changes += puts + deletes;
        rounds++;
        // Let the daemon catch up before sampling, so the sample measures what it keeps, not what is in flight.
        await poll(`kernel entries after round ${rounds}`, async () => {
          const { have, want } = await converged();
          return have.length === want.length && have.every((r, i) => r === want[i]);
        }, 60_000, 250).catch(async (e: Error) => {
          const { have, want } = await converged();
          const missing = want.filter((x) => !have.includes(x)).slice(0, 5);
          const extra = have.filter((x) => !want.includes(x)).slice(0, 5);
          throw new Error(`${e.message}: missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}\n${tb.daemonLog(h1).slice(-5000)}`);
        });
        await sleep(300);
        samples.push({ rss: rssMiB(pid), fds: fdCount(pid) });
      }
      assert.equal(h1.daemon?.exitCode, null, 'the daemon exited');
      const { have, want } = await converged();
      assert.deepEqual(have, want);
      assert.deepEqual(stackTraces(tb.daemonLog(h1)), []);
      // Growth is judged after the first rounds (V8 grows its heap to a working size first): the second half of the
      // run may not sit above the first half's peak by more than a margin, and descriptors may not climb at all.
      const half = Math.floor(samples.length / 2);
      const early = samples.slice(1, Math.max(2, half));
      const late = samples.slice(half);
      const earlyPeak = Math.max(...early.map((s) => s.rss));
      const latePeak = Math.max(...late.map((s) => s.rss));
      // A leak keeps descriptors open, so even the fewest of the second half exceed the first half's most; a
      // descriptor open for a moment (a reconnect, a dump's socket) shows in one sample only (seen: 22 → 30 → 22).
      const fdsEarly = Math.max(...early.map((s) => s.fds));
      const fdsLate = Math.min(...late.map((s) => s.fds));
      // At most 20 samples, evenly spaced, so a long soak still prints one readable line.
      const shown = samples.filter((_, i) => i % Math.ceil(samples.length / 20) === 0 || i === samples.length - 1);
      console.log(`# ${dp.name}: ${rounds} rounds, ${changes} lease changes in ${((Date.now() - started) / 1000).toFixed(0)} s; `
        + `${want.length} kernel entries at the end; RSS MiB ${shown.map((s) => s.rss.toFixed(0)).join(' ')}; `
        + `fds ${shown.map((s) => s.fds).join(' ')}`);
      assert.ok(latePeak <= earlyPeak * 1.15 + 8, `RSS keeps growing: ${earlyPeak.toFixed(1)} → ${latePeak.toFixed(1)} MiB`);
      assert.ok(fdsLate <= fdsEarly + 2, `file descriptors leak: ${fdsEarly} → ${fdsLate}`);
    });
  });
}
