// vxlan on the kernel datapath end to end (issue 4, flannel-compat §5; issue 21 item 3): three tsflanneld hosts with
// `--vxlan-datapath kernel` and a fourth host running the real upstream flanneld v0.28.9 (etcd v3, built by
// ../shared/upstream/build.sh). Containers on all four reach each other; the kernel state of a tsflanneld host
// reads line for line like the upstream node's; the device comes back after deletion with its MAC; the upstream
// node's new VtepMAC after a reboot is followed; a device upstream left is adopted; a lease removal is seen both ways.
// The cases share one testbed and run in order.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';

const PREFIX = '/usr/local/bin/network';
const CONFIG = { Network: '10.5.0.0/16', Backend: { Type: 'vxlan' } };
const DEVICE = 'flannel.1';
const skipKernel = testbedUnavailable(['bridge']);
const skip = skipKernel ?? upstreamUnavailable('v0.28.9');

interface HostLease {
  readonly subnet: string;
  readonly subnetIP: string;
  readonly publicIP: string;
  readonly vtepMac: string;
}

describe('vxlan kernel datapath: three tsflanneld hosts and a real flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;
  let tsHosts: Host[];
  let upHost: Host;

  before(async () => {
    tb = await Testbed.create({ hosts: 4, prefix: PREFIX });
    await tb.putConfig(CONFIG);
    tsHosts = tb.hosts.slice(0, 3);
    upHost = tb.host(4);
    startUpstream(tb, upHost, 'v0.28.9');
    for (const h of tsHosts) tb.startDaemon(h, ['--vxlan-datapath', 'kernel']);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h, 45_000);
    for (const h of tb.hosts) await tb.addContainer(h, 'c1');
  });

  after(async () => {
    await tb?.destroy();
  });

  const withKernelReport = (fn: () => Promise<void>): Promise<void> => tb.explainFailure(fn, kernelReport);

  const container = (h: Host): Container => tb.container(h);

  async function sh(h: Host, argv: readonly string[]): Promise<string> {
    const r = await tb.exec(h, argv);
    assert.equal(r.code, 0, `${argv.join(' ')} on ${h.name}: ${r.stderr}`);
    return r.stdout;
  }

  const lines = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();

  async function kernelReport(): Promise<string> {
    const parts: string[] = [];
    for (const h of tb.hosts) {
      for (const argv of [['ip', '-d', 'link', 'show', DEVICE], ['ip', 'neigh', 'show', 'dev', DEVICE],
        ['bridge', 'fdb', 'show', 'dev', DEVICE], ['ip', 'route']]) {
        parts.push(`== ${h.name}: ${argv.join(' ')}\n${(await tb.exec(h, argv)).stdout}`);
      }
    }
    return parts.join('');
  }

  /** Every vxlan lease in etcd, by the host's public IP. */
  async function leasesByHost(): Promise<Map<string, HostLease>> {
    const byIP = new Map<string, HostLease>();
    for (const [key, value] of await tb.leases()) {
      const m = /\/subnets\/(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(key);
      assert.ok(m, `unexpected lease key ${key}`);
      const v = JSON.parse(value) as { PublicIP: string; BackendType: string; BackendData: { VNI: number; VtepMAC: string } };
      assert.equal(v.BackendType, 'vxlan', `lease ${key}: ${value}`);
      byIP.set(v.PublicIP, { subnet: `${m[1]}/${m[2]}`, subnetIP: m[1]!, publicIP: v.PublicIP, vtepMac: v.BackendData.VtepMAC });
    }
    return byIP;
  }

  /** What upstream programs on `h` for its peers: the same lines for a tsflanneld host and the upstream node. */
  async function assertUpstreamState(h: Host): Promise<void> {
    const leases = await leasesByHost();
    const own = leases.get(h.ip);
    assert.ok(own, `${h.name} has no lease`);
    const peers = [...leases.values()].filter((l) => l.publicIP !== h.ip);
    assert.equal(peers.length, 3);
    const dev = await sh(h, ['ip', '-d', 'link', 'show', DEVICE]);
    assert.match(dev, new RegExp(`<BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 `));
    assert.match(dev, new RegExp(`link/ether ${own.vtepMac} brd ff:ff:ff:ff:ff:ff`));
    assert.match(dev, new RegExp(`vxlan id 1 local ${h.ip.replace(/\./g, '\\.')} dev ${UNDERLAY_IFACE} srcport 0 0 dstport 8472 nolearning ttl auto ageing 300 `));
    assert.deepEqual(lines(await sh(h, ['ip', '-4', 'addr', 'show', 'dev', DEVICE])).filter((l) => l.startsWith('inet ')),
      [`inet ${own.subnetIP}/32 scope global ${DEVICE}`]);
    assert.deepEqual(lines(await sh(h, ['ip', 'neigh', 'show', 'dev', DEVICE])).filter((l) => l.includes('PERMANENT')),
      lines(peers.map((p) => `${p.subnetIP} lladdr ${p.vtepMac} PERMANENT`).join('\n')));
    assert.deepEqual(lines(await sh(h, ['bridge', 'fdb', 'show', 'dev', DEVICE])),
      lines(peers.map((p) => `${p.vtepMac} dst ${p.publicIP} self permanent`).join('\n')));
    assert.deepEqual(lines(await sh(h, ['ip', 'route', 'show', 'dev', DEVICE])),
      lines(peers.map((p) => `${p.subnet} via ${p.subnetIP} onlink`).join('\n')));
  }

  async function assertAllPing(): Promise<void> {
    for (const a of tb.hosts) {
      for (const b of tb.hosts) if (a !== b) await tb.waitForPing(container(a), container(b).ip);
    }
  }

  it('publishes VNI and VtepMAC in the lease and FLANNEL_MTU = MTU − 50', () => withKernelReport(async () => {
    const leases = await leasesByHost();
    for (const h of tsHosts) {
      const env = await tb.waitForSubnetEnv(h);
      assert.equal(env.mtu, 1450);
      const l = leases.get(h.ip);
      assert.ok(l, `no lease for ${h.name}`);
      assert.match(l.vtepMac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered unicast');
      const raw = (await tb.leases()).get(`${PREFIX}/subnets/${l.subnet.replace('/', '-')}`);
      assert.equal(raw, JSON.stringify({ PublicIP: h.ip, PublicIPv6: null, BackendType: 'vxlan',
        BackendData: { VNI: 1, VtepMAC: l.vtepMac } }));
    }
    // The real node's lease has the same text with its own address and MAC: same fields, same order.
    const up = leases.get(upHost.ip);
    assert.ok(up, 'no lease of the upstream node');
    assert.equal((await tb.leases()).get(`${PREFIX}/subnets/${up.subnet.replace('/', '-')}`), JSON.stringify({
      PublicIP: upHost.ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: up.vtepMac } }));
    assert.equal((await tb.waitForSubnetEnv(upHost)).mtu, 1450);
  }));

  it('containers on every host reach each other, the real upstream node included, both ways', () => withKernelReport(async () => {
    await assertAllPing();
    for (const [a, b] of [[1, 2], [3, 4], [4, 1]] as const) {
      const r = await tb.tcpTransfer(container(tb.host(a)), container(tb.host(b)), 2 << 20);
      assert.equal(r.bytesReceived, r.bytesSent, `h${a} → h${b}`);
      assert.equal(r.receivedSha256, r.sentSha256, `h${a} → h${b}`);
    }
  }));

  it('ip -d link, ip neigh, bridge fdb and ip route read exactly like the upstream node\'s', () => withKernelReport(async () => {
    for (const h of [tb.host(1), upHost]) await assertUpstreamState(h);
    // Every detail of the device (flags, qdisc, vxlan options, offload limits…) with host-specific values masked.
    const leases = await leasesByHost();
    const masked = async (h: Host): Promise<string> => (await sh(h, ['ip', '-d', 'link', 'show', DEVICE]))
      .replace(/^\d+: /, 'N: ').replaceAll(leases.get(h.ip)!.vtepMac, 'MAC').replaceAll(h.ip, 'IP');
    assert.equal(await masked(tb.host(1)), await masked(upHost));
  }));

  it('flannel.1 deleted by hand comes back with the same MAC and every peer', () => withKernelReport(async () => {
    const h1 = tb.host(1);
    const before = (await leasesByHost()).get(h1.ip)!;
    const oldIndex = JSON.parse(await sh(h1, ['ip', '-j', 'link', 'show', DEVICE]))[0].ifindex as number;
    await sh(h1, ['ip', 'link', 'del', DEVICE]);
    await poll('flannel.1 recreated on h1', async () => {
      const r = await tb.exec(h1, ['ip', '-j', 'link', 'show', DEVICE]);
      return r.code === 0 && (JSON.parse(r.stdout)[0].ifindex as number) !== oldIndex;
    });
    await poll('h1 peers reprogrammed', async () => (await tb.exec(h1, ['ip', 'route', 'show', 'dev', DEVICE])).stdout.trim().split('\n').length === 3);
    await assertUpstreamState(h1);
    assert.equal((await leasesByHost()).get(h1.ip)!.vtepMac, before.vtepMac);
    await tb.waitForPing(container(tb.host(2)), container(h1).ip);
    await tb.waitForPing(container(upHost), container(h1).ip);
  }));

  it('follows a peer whose VtepMAC changed (upstream node rebooted, #1795) and drops the old FDB entry', () => withKernelReport(async () => {
    const old = (await leasesByHost()).get(upHost.ip)!;
    // A reboot as upstream lives it: the process ends, the device is gone, the next run makes a new random MAC and
    // rewrites its lease (found again by PublicIP, same subnet).
    assert.equal(await tb.stopDaemon(upHost), 0);
    await sh(upHost, ['ip', 'link', 'del', DEVICE]);
    startUpstream(tb, upHost, 'v0.28.9');
    const now = await poll('the upstream node\'s lease with a new VtepMAC', async () => {
      const l = (await leasesByHost()).get(upHost.ip);
      return l !== undefined && l.vtepMac !== old.vtepMac ? l : null;
    }, 45_000);
    assert.equal(now.subnet, old.subnet, 'upstream kept its subnet');
    for (const h of tsHosts) {
      await poll(`${h.name} follows the new VtepMAC`, async () => {
        const fdb = (await tb.exec(h, ['bridge', 'fdb', 'show', 'dev', DEVICE])).stdout;
        const neigh = (await tb.exec(h, ['ip', 'neigh', 'show', 'dev', DEVICE])).stdout;
        return fdb.includes(`${now.vtepMac} dst ${upHost.ip} self permanent`) && !fdb.includes(old.vtepMac)
          && neigh.includes(`${now.subnetIP} lladdr ${now.vtepMac} PERMANENT`);
      });
    }
    await assertUpstreamState(tb.host(2));
    for (const h of tsHosts) {
      await tb.waitForPing(container(h), container(upHost).ip);
      await tb.waitForPing(container(upHost), container(h).ip);
    }
  }));

  it('keeps its VtepMAC across a reboot (daemon restarted after the device was deleted)', () => withKernelReport(async () => {
    const h3 = tb.host(3);
    const mac = (await leasesByHost()).get(h3.ip)!.vtepMac;
    assert.equal(await tb.stopDaemon(h3), 0);
    await sh(h3, ['ip', 'link', 'del', DEVICE]);
    tb.startDaemon(h3, ['--vxlan-datapath', 'kernel']);
    await poll('h3 flannel.1 back', async () => (await tb.exec(h3, ['ip', 'link', 'show', DEVICE])).code === 0);
    const dev = await sh(h3, ['ip', 'link', 'show', DEVICE]);
    assert.match(dev, new RegExp(`link/ether ${mac} `));
    assert.equal((await leasesByHost()).get(h3.ip)!.vtepMac, mac);
    await tb.waitForPing(container(tb.host(1)), container(h3).ip);
    await tb.waitForPing(container(upHost), container(h3).ip);
  }));

  it('adopts a compatible device left by upstream flanneld (and its MAC); recreates an incompatible one', () => withKernelReport(async () => {
    const h3 = tb.host(3);
    // h3 becomes an upstream node for a while (a rolling replacement backwards): the real v0.28.9 takes over its lease
    // by PublicIP with a device of its own, then stops; tsflanneld, started again, adopts that device and its MAC.
    assert.equal(await tb.stopDaemon(h3), 0);
    await sh(h3, ['ip', 'link', 'del', DEVICE]);
    const mine = (await leasesByHost()).get(h3.ip)!.vtepMac;
    startUpstream(tb, h3, 'v0.28.9');
    const adopted = await poll('v0.28.9 on h3 publishes its VtepMAC', async () => {
      const mac = (await leasesByHost()).get(h3.ip)?.vtepMac;
      return mac !== undefined && mac !== mine ? mac : null;
    }, 45_000);
    assert.equal(await tb.stopDaemon(h3), 0);
    const index = JSON.parse(await sh(h3, ['ip', '-j', 'link', 'show', DEVICE]))[0].ifindex as number;
    tb.startDaemon(h3, ['--vxlan-datapath', 'kernel']);
    // (upstream's lease already holds that MAC: wait for tsflanneld's own start before reading it)
    await tb.waitForSubnetEnv(h3, 45_000);
    assert.equal((await leasesByHost()).get(h3.ip)?.vtepMac, adopted, 'h3 publishes the adopted MAC');
    assert.equal(JSON.parse(await sh(h3, ['ip', '-j', 'link', 'show', DEVICE]))[0].ifindex, index, 'device kept');
    await tb.waitForPing(container(tb.host(1)), container(h3).ip);
    await tb.waitForPing(container(upHost), container(h3).ip);

    assert.equal(await tb.stopDaemon(h3), 0);
    await sh(h3, ['ip', 'link', 'del', DEVICE]);
    await sh(h3, ['ip', 'link', 'add', DEVICE, 'type', 'vxlan', 'id', '1', 'local', h3.ip, 'dev', UNDERLAY_IFACE,
      'dstport', '4789', 'learning']);
    tb.startDaemon(h3, ['--vxlan-datapath', 'kernel']);
    await poll('h3 recreated the incompatible device', async () =>
      /dstport 8472 nolearning/.test((await tb.exec(h3, ['ip', '-d', 'link', 'show', DEVICE])).stdout));
    assert.match(await sh(h3, ['ip', 'link', 'show', DEVICE]), new RegExp(`link/ether ${adopted} `), 'MAC kept from the state file');
    // The real node saw h3's MAC change twice through its watch (no one told it): it reaches h3 again.
    await tb.waitForPing(container(upHost), container(h3).ip);
    await tb.waitForPing(container(h3), container(tb.host(2)).ip);
  }));

  it('the 10 s resync restores entries deleted by hand and removes entries no lease backs', () => withKernelReport(async () => {
    const h2 = tb.host(2);
    const h1Lease = (await leasesByHost()).get(tb.host(1).ip)!;
    await sh(h2, ['ip', 'route', 'del', h1Lease.subnet, 'dev', DEVICE]);
    await sh(h2, ['ip', 'neigh', 'del', h1Lease.subnetIP, 'dev', DEVICE]);
    await sh(h2, ['bridge', 'fdb', 'add', '02:00:00:00:99:99', 'dev', DEVICE, 'dst', '192.0.2.99', 'self', 'permanent']);
    await sh(h2, ['ip', 'route', 'add', '10.5.250.0/24', 'via', '10.5.250.0', 'dev', DEVICE, 'onlink']);
    await poll('h2 resynced', async () => {
      const routes = (await tb.exec(h2, ['ip', 'route', 'show', 'dev', DEVICE])).stdout;
      const fdb = (await tb.exec(h2, ['bridge', 'fdb', 'show', 'dev', DEVICE])).stdout;
      return routes.includes(`${h1Lease.subnet} via ${h1Lease.subnetIP} onlink`) && !routes.includes('10.5.250.0')
        && !fdb.includes('02:00:00:00:99:99');
    }, 25_000);
    await assertUpstreamState(h2);
    await tb.waitForPing(container(h2), container(tb.host(1)).ip);
  }));

  const entriesOf = async (h: Host): Promise<string> => (await tb.exec(h, ['ip', 'neigh', 'show', 'dev', DEVICE])).stdout
    + (await tb.exec(h, ['bridge', 'fdb', 'show', 'dev', DEVICE])).stdout
    + (await tb.exec(h, ['ip', 'route', 'show', 'dev', DEVICE])).stdout;

  it('a lease removal is seen both ways: the upstream node drops a tsflanneld node, tsflanneld drops the upstream node', () => withKernelReport(async () => {
    const h2 = tb.host(2);
    const gone = (await leasesByHost()).get(h2.ip)!;
    assert.match(await entriesOf(upHost), new RegExp(gone.vtepMac), 'the upstream node had h2 programmed');
    assert.equal(await tb.stopDaemon(h2), 0);
    await tb.etcdctl(['del', `${PREFIX}/subnets/${gone.subnet.replace('/', '-')}`]);
    await poll('v0.28.9 drops h2\'s ARP, FDB and route', async () => {
      const all = await entriesOf(upHost);
      return !all.includes(`${gone.subnetIP} `) && !all.includes(gone.vtepMac);
    });

    const up = (await leasesByHost()).get(upHost.ip)!;
    await tb.etcdctl(['del', `${PREFIX}/subnets/${up.subnet.replace('/', '-')}`]);
    for (const h of [tb.host(1), tb.host(3)]) {
      await poll(`${h.name} dropped the upstream node's entries`, async () => {
        const all = await entriesOf(h);
        return !all.includes(`${up.subnetIP} `) && !all.includes(up.vtepMac);
      });
    }
    // Upstream's answer to its own lease gone: "Lease has been revoked", exit status 0.
    const exited = await poll('v0.28.9 to exit after its lease was deleted', () => upHost.daemon?.exitCode ?? null, 30_000);
    assert.equal(exited, 0, tb.daemonLog(upHost).slice(-2000));
    await tb.waitForPing(container(tb.host(1)), container(tb.host(3)).ip);
  }));
});

describe('vxlan kernel datapath with DirectRouting on one L2', { skip: skipKernel ?? false, timeout: 90_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    await tb.putConfig({ Network: '10.6.0.0/16', Backend: { Type: 'vxlan', DirectRouting: true } });
    for (const h of tb.hosts) tb.startDaemon(h, ['--vxlan-datapath', 'kernel']);
    for (const h of tb.hosts) {
      await tb.waitForSubnetEnv(h);
      await tb.addContainer(h, 'c1');
    }
  });

  after(async () => {
    await tb?.destroy();
  });

  it('installs a plain route via the peer\'s PublicIP and no ARP/FDB entries; containers reach each other', async () => {
    const [h1, h2] = [tb.host(1), tb.host(2)];
    const env2 = await tb.waitForSubnetEnv(h2);
    const subnet2 = env2.subnet.replace(/\.1\/24$/, '.0/24');
    try {
      await poll('h1 direct route to h2', async () =>
        (await tb.routes(h1)).some((l) => l.trim() === `${subnet2} via ${h2.ip} dev ${UNDERLAY_IFACE}`));
      await tb.waitForPing(h1.containers[0]!, h2.containers[0]!.ip);
      await tb.waitForPing(h2.containers[0]!, h1.containers[0]!.ip);
    } catch (e) {
      if (e instanceof Error) e.message += `\n${await tb.routesReport()}\n${tb.allLogs()}`;
      throw e;
    }
    assert.equal((await tb.exec(h1, ['ip', 'route', 'show', 'dev', DEVICE])).stdout.trim(), '');
    assert.equal((await tb.exec(h1, ['bridge', 'fdb', 'show', 'dev', DEVICE])).stdout.trim(), '');
    assert.doesNotMatch((await tb.exec(h1, ['ip', 'neigh', 'show', 'dev', DEVICE])).stdout, /PERMANENT/);
    assert.equal((await tb.waitForSubnetEnv(h1)).mtu, 1450);
  });
});
