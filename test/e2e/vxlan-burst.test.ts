// A burst of joins and leaves on the kernel vxlan datapath (issue 19 item 4): 200 peer leases written to etcd at once
// all get their ARP entry, FDB entry and onlink route (the requests of a pass share datagrams, src/netlink/batch.ts);
// the log sums the burst up instead of a line per peer; the 200 leaving at once (their etcd lease revoked) take every
// entry with them; peers that fail to program (the device is down, so the kernel refuses their onlink routes) are
// retried by the backend and end up programmed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { syntheticLeases } from '../../bench/peers.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Host } from '../support/testbed.js';

const NETWORK = '10.64.0.0/12';
const DEVICE = 'flannel.1';
const PEERS = 200;
const LEASE_WRITER = path.resolve(__dirname, '..', '..', 'bench', 'agents', 'lease-writer.js');
const skip = testbedUnavailable(['bridge']);

describe('kernel vxlan: 200 peers joining and leaving at once', { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;
  let h1: Host;
  let firstKey = '';

  before(async () => {
    tb = await Testbed.create({ hosts: 1 });
    h1 = tb.host(1);
    await tb.putConfig({ Network: NETWORK, SubnetLen: 24, Backend: { Type: 'vxlan' } });
    tb.startDaemon(h1, ['--vxlan-datapath', 'kernel']);
    await tb.waitForSubnetEnv(h1);
  });

  after(async () => {
    await tb?.destroy();
  });

  async function lines(argv: readonly string[]): Promise<string[]> {
    const r = await tb.exec(h1, argv);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }

  const state = async (): Promise<{ routes: string[]; arp: string[]; fdb: string[] }> => ({
    routes: await lines(['ip', 'route', 'show', 'dev', DEVICE]),
    arp: await lines(['ip', 'neigh', 'show', 'dev', DEVICE, 'nud', 'permanent']),
    fdb: (await lines(['bridge', 'fdb', 'show', 'dev', DEVICE])).filter((l) => / dst /.test(l)),
  });

  async function writeLeases(count: number, name: string): Promise<ReturnType<typeof syntheticLeases>> {
    const own = fs.readFileSync(h1.subnetFile, 'utf8').match(/^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.\d+\/(\d+)$/m);
    assert.ok(own, 'subnet.env has FLANNEL_SUBNET');
    const leases = syntheticLeases(count, { prefix: tb.prefix, network: NETWORK, subnetLen: 24,
      exclude: [`${own[1]}.0/24`], underlayBase: '192.0.2', firstHost: 100, lastHost: 250, backend: 'vxlan' });
    const file = path.join(tb.dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(leases.map((l) => ({ key: l.key, value: l.value }))));
    const writer = await tb.exec(h1, [process.execPath, LEASE_WRITER, tb.etcdEndpoint, file, String(count)]);
    assert.equal(writer.code, 0, writer.stderr);
    return leases;
  }

  it('every peer written at once gets exactly its ARP entry, FDB entry and route; the log has a summary', () => tb.explainFailure(async () => {
    const leases = await writeLeases(PEERS, 'burst');
    firstKey = leases[0]?.key ?? '';

    await poll('200 routes, ARP and FDB entries', async () => {
      const s = await state();
      return s.routes.length === PEERS && s.arp.length === PEERS && s.fdb.length === PEERS ? s : null;
    }, 60_000);
    const s = await state();
    for (const l of leases) {
      const value = JSON.parse(l.value) as { PublicIP: string; BackendData: { VtepMAC: string } };
      const ip = l.subnet.replace(/\/24$/, '');
      assert.ok(s.routes.includes(`${l.subnet} via ${ip} onlink`), `route of ${l.subnet}`);
      assert.ok(s.arp.includes(`${ip} lladdr ${value.BackendData.VtepMAC} PERMANENT`), `ARP entry of ${l.subnet}`);
      assert.ok(s.fdb.some((f) => f.startsWith(`${value.BackendData.VtepMAC} dst ${value.PublicIP} `)), `FDB entry of ${l.subnet}`);
    }

    const log = tb.daemonLog(h1).split('\n');
    const perPeer = log.filter((line) => line.includes('"msg":"programmed peer"') && line.includes('"level":30'));
    assert.ok(perPeer.length < PEERS / 2, `${perPeer.length} per-peer info lines for ${PEERS} joins`);
    assert.ok(log.some((line) => /"msg":"peer pass: \d+ × programmed peer/.test(line)), 'a summary line of the burst');
  }));

  it('the 200 leaving at once (their etcd lease revoked) take every entry with them', () => tb.explainFailure(async () => {
    // The writer attached every synthetic lease to one etcd lease. Its id is an int64: read it as text, not a JSON number.
    const id = /"lease":(\d+)/.exec(await tb.etcdctl(['get', firstKey, '-w', 'json']))?.[1];
    assert.ok(id, `the etcd lease of ${firstKey}`);
    await tb.etcdctl(['lease', 'revoke', BigInt(id).toString(16)]);
    await poll('every peer entry removed', async () => {
      const s = await state();
      return s.routes.length === 0 && s.arp.length === 0 && s.fdb.length === 0 ? s : null;
    }, 60_000);
  }));

  it('peers that fail to program (device down: no onlink route) are retried and programmed', () => tb.explainFailure(async () => {
    await lines(['ip', 'link', 'set', DEVICE, 'down']);
    const leases = await writeLeases(20, 'while-down');
    await poll('20 routes, ARP and FDB entries after the retry', async () => {
      const s = await state();
      return s.routes.length === 20 && s.arp.length === 20 && s.fdb.length === 20 ? s : null;
    }, 60_000);
    const s = await state();
    for (const l of leases) assert.ok(s.routes.some((r) => r.startsWith(`${l.subnet} via `)), `route of ${l.subnet}`);
    // The backend said so and retried at once, rather than leaving the peers to its 10 s check.
    assert.ok(tb.daemonLog(h1).includes('some peers could not be programmed; retrying them soon'));
  }));
});
