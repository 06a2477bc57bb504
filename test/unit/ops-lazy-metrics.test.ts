// A daemon nobody scrapes never loads prom-client (some MiB of heap and RSS); its status file still has the counts,
// and the first /metrics request loads it with everything counted so far. Its own process: nothing else loads it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { Lifecycle, type LeaseContext } from '../../src/lifecycle.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { attachOperations } from '../../src/ops/extension.js';
import { parseOptions } from '../../src/options.js';
import { stateFilePath, type DaemonState } from '../../src/ops/state-file.js';
import type { Lease } from '../../src/subnet/lease.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-lazy-metrics-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const promClientLoaded = (): boolean => Object.keys(require.cache).some((k) => k.includes(`${path.sep}prom-client${path.sep}`));

function lease(cidr: string): Lease {
  return { subnet: parseCidr(cidr) as Ipv4Net, ipv6Subnet: null,
    attrs: { publicIP: '192.0.2.1', publicIPv6: null, backendType: 'alloc' },
    expiration: new Date(Date.now() + 86_400_000), etcdLeaseId: '1', revision: '1' };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function until<T>(what: string, f: () => T | null): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it('loads prom-client at the first scrape, not at READY; the status file has the peers before that', async () => {
  const port = await freePort();
  const subnetFile = path.join(dir, 'subnet.env');
  const options = parseOptions(['--subnet-file', subnetFile, '--healthz-ip', '127.0.0.1', '--healthz-port', String(port)], {});
  const lifecycle = new Lifecycle();
  attachOperations(lifecycle, options);
  const ctx = { options, config: parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}'),
    lease: lease('10.5.7.0/24'), mtu: 1500, backendCounters: () => ({ rx_packets: 5 }),
    trafficCounters: () => ({ rebuilds: 2 }) } as unknown as LeaseContext;
  await lifecycle.run('rulesInPlace', ctx);
  await lifecycle.run('ready', { ...ctx, subnetFile });
  lifecycle.notify('peers', { kind: 'reset', peers: [lease('10.5.8.0/24'), lease('10.5.9.0/24')] });
  lifecycle.notify('peers', { kind: 'events', events: [{ type: 'removed', lease: lease('10.5.9.0/24') }] });
  try {
    const state = await until('the status file with the peer', () => {
      try {
        const s = JSON.parse(fs.readFileSync(stateFilePath(subnetFile), 'utf8')) as DaemonState;
        return s.peers === 1 ? s : null;
      } catch {
        return null;
      }
    });
    assert.equal(state.counters.rx_packets, 5);
    assert.equal(promClientLoaded(), false, 'prom-client loaded though nobody scraped');

    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.match(text, /^flannel_peers 1$/m);
    assert.match(text, /^flannel_lease_events_total\{type="removed"\} 1$/m);
    assert.match(text, /^flannel_iptables_rebuilds_total 2$/m);
    assert.match(text, /^flannel_datapath_packets_total\{direction="rx"\} 5$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.equal(promClientLoaded(), true);
  } finally {
    await lifecycle.run('stopping', {});
  }
  assert.equal(fs.existsSync(stateFilePath(subnetFile)), false);
});
