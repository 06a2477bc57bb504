// Issue 8 end to end: whole daemons in namespaces with sd_notify, the health server, ip-masq rules, then the
// operator commands (status, mk-docker-opts, doctor) run inside the same namespaces.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NotifyListener } from '../support/notify-listener.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { CLI_JS, Testbed, poll, type Host } from '../support/testbed.js';

const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'alloc' } };
const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures');
const HEALTH = ['--healthz-ip', '127.0.0.1', '--healthz-port', '8471'];
const skip = testbedUnavailable(['python3', 'curl', 'iptables-save']);

describe('operating tsflanneld (issue 8)', { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;
  let listener: NotifyListener;
  let h1: Host;
  let h2: Host;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    [h1, h2] = tb.hosts as [Host, Host];
    listener = await NotifyListener.start(h1.subnetFile);
  });

  after(async () => {
    await listener?.stop();
    await tb?.destroy();
  });


  /** GET from inside the host's namespace: [status code, body]. */
  async function get(host: Host, urlPath: string): Promise<[number, string]> {
    const r = await tb.exec(host, ['curl', '-s', '-w', '\n%{http_code}', `http://127.0.0.1:8471${urlPath}`]);
    const cut = r.stdout.lastIndexOf('\n');
    return [Number(r.stdout.slice(cut + 1)), r.stdout.slice(0, cut)];
  }

  function cli(host: Host, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return tb.exec(host, [process.execPath, CLI_JS, ...args]);
  }

  it('answers /healthz 200 and /readyz 503 while waiting for the network config', () => tb.explainFailure(async () => {
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = listener.socketPath;
    try {
      tb.startDaemon(h1, ['--ip-masq', ...HEALTH]);
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    }
    await poll('h1 health server', async () => (await get(h1, '/healthz'))[0] === 200);
    assert.deepEqual(await get(h1, '/healthz'), [200, 'flanneld is running']);
    assert.deepEqual(await get(h1, '/readyz'), [503, 'flanneld is not ready yet']);
    assert.equal(listener.messages.length, 0, 'no READY=1 before the lease');
  }));

  it('sends READY=1 with the lease only after subnet.env exists, then /readyz is 200', () => tb.explainFailure(async () => {
    await tb.putConfig(CONFIG);
    const env = await tb.waitForSubnetEnv(h1);
    const ready = await listener.waitFor('READY=1');
    assert.equal(ready.watchedExists, true, 'subnet.env existed when READY=1 arrived');
    const subnet = env.subnet.replace(/\.1\/24$/, '.0/24');
    assert.equal(ready.data, `READY=1\nSTATUS=Lease ${subnet} of 10.0.0.0/16, PublicIP ${h1.ip}, backend alloc, MTU 1500`);
    assert.deepEqual(await get(h1, '/readyz'), [200, 'flanneld is ready']);
    assert.deepEqual(await get(h1, '/nope'), [404, '404 page not found\n']);
  }));

  it('serves Prometheus metrics', () => tb.explainFailure(async () => {
    const [code, body] = await get(h1, '/metrics');
    assert.equal(code, 200);
    assert.match(body, /^# TYPE flannel_lease_expiration_timestamp_seconds gauge$/m);
    const expiry = Number(/^flannel_lease_expiration_timestamp_seconds (\S+)$/m.exec(body)?.[1]);
    assert.ok(expiry > Date.now() / 1000 + 3600, `lease expiry ${expiry} lies about 24 h ahead`);
    assert.match(body, /^flannel_iptables_rebuilds_total 2$/m, 'masquerade and forward sets applied once each');
    assert.match(body, /^# TYPE flannel_datapath_drops_total counter$/m);
    assert.match(body, /^process_cpu_seconds_total /m);
    // Every metric's name, type and HELP, as the daemon exposed them when prom-client loaded at start-up.
    const heads = body.split('\n').filter((l) => l.startsWith('# '));
    assert.deepEqual(heads, fs.readFileSync(path.join(FIXTURES, 'metrics-help.txt'), 'utf8').trimEnd().split('\n'));
  }));

  it('installs upstream\'s masquerade and forward rules in the host namespace', () => tb.explainFailure(async () => {
    const env = await tb.waitForSubnetEnv(h1);
    const s = env.subnet.replace(/\.1\/24$/, '.0/24');
    const nat = (await tb.exec(h1, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('flanneld'));
    const m = '-m comment --comment "flanneld masq"';
    assert.deepEqual(nat, [
      `-A POSTROUTING ${m} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${m} -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${s} -d 10.0.0.0/16 ${m} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.0.0.0/16 -d ${s} ${m} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 10.0.0.0/16 -d ${s} ${m} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.0.0.0/16 ! -d 224.0.0.0/4 ${m} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s 10.0.0.0/16 -d 10.0.0.0/16 ${m} -j MASQUERADE --random-fully`,
    ]);
    const filter = (await tb.exec(h1, ['iptables-save', '-t', 'filter'])).stdout;
    assert.match(filter, /^-A FLANNEL-FWD -s 10\.0\.0\.0\/16 -m comment --comment "flanneld forward" -j ACCEPT$/m);
  }));

  it('status lists the own lease and the peers from etcd, with the daemon\'s state', () => tb.explainFailure(async () => {
    tb.startDaemon(h2);
    const env2 = await tb.waitForSubnetEnv(h2);
    const env1 = await tb.waitForSubnetEnv(h1);
    const r = await cli(h1, ['status', '--json', ...tb.daemonArgs(h1)]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      network: string; own: { subnet: string; publicIP: string; backend: string; expires: string };
      peers: Array<{ subnet: string; publicIP: string; backend: string }>; daemon: { running: boolean };
    };
    assert.equal(report.network, '10.0.0.0/16');
    assert.equal(report.own.subnet, env1.subnet.replace(/\.1\/24$/, '.0/24'));
    assert.equal(report.own.publicIP, h1.ip);
    assert.ok(Date.parse(report.own.expires) > Date.now());
    assert.deepEqual(report.peers.map((p) => [p.subnet, p.publicIP, p.backend]),
      [[env2.subnet.replace(/\.1\/24$/, '.0/24'), h2.ip, 'alloc']]);
    assert.equal(report.daemon.running, true);
    await poll('flannel_peers 1 on h1', async () => /^flannel_peers 1$/m.test((await get(h1, '/metrics'))[1]));
    assert.match((await get(h1, '/metrics'))[1], /^flannel_lease_events_total\{type="added"\} 1$/m);
    const text = await cli(h1, ['status', ...tb.daemonArgs(h1)]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Peers \(1\):$/m);
    assert.ok(text.stdout.includes(h2.ip), text.stdout);
  }));

  it('status without the daemon\'s etcd flags reads the prefix and endpoints from its status file, and says when they differ',
    () => tb.explainFailure(async () => {
      await tb.waitForSubnetEnv(h2);
      await tb.waitForSubnetEnv(h1);
      // Only the subnet file, as an operator typing `tsflanneld status` without the sysconfig variables would.
      const only = ['--subnet-file', h1.subnetFile];
      type Report = { network: string | null; peers: unknown[]; daemon: { peers?: number | null }; etcdNote?: string | null };
      let report: Report | null = null;
      await poll('status shows the daemon\'s peer count', async () => {
        const r = await cli(h1, ['status', '--json', ...only]);
        assert.equal(r.code, 0, r.stderr);
        report = JSON.parse(r.stdout) as Report;
        return report.daemon.peers === 1;
      });
      const got = report as unknown as Report;
      assert.equal(got.network, '10.0.0.0/16');
      assert.equal(got.peers.length, 1);
      assert.ok((got.etcdNote ?? '').includes(`prefix ${tb.prefix}`), String(got.etcdNote));
      const other = await cli(h1, ['status', ...only, '--etcd-prefix', '/elsewhere/network']);
      assert.equal(other.code, 0, other.stderr);
      assert.match(other.stdout, /WARNING: the running daemon \(pid \d+\) uses prefix /);
      assert.ok(other.stdout.includes(tb.prefix), other.stdout);
    }));

  it('mk-docker-opts turns the daemon\'s subnet.env into the RPM unit\'s /run/flannel/docker', () => tb.explainFailure(async () => {
    const env = await tb.waitForSubnetEnv(h1);
    const out = path.join(path.dirname(h1.subnetFile), 'docker');
    const r = await cli(h1, ['mk-docker-opts', '-k', 'DOCKER_NETWORK_OPTIONS', '-d', out, '-f', h1.subnetFile]);
    assert.equal(r.code, 0, r.stderr);
    // --ip-masq on the daemon → Docker must not masquerade.
    assert.equal(fs.readFileSync(out, 'utf8'),
      `DOCKER_OPT_BIP="--bip=${env.subnet}"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1500"\n`
      + `DOCKER_NETWORK_OPTIONS=" --bip=${env.subnet} --ip-masq=false --mtu=1500"\n`);
  }));

  it('stops on SIGTERM with STOPPING=1 and exit status 0', () => tb.explainFailure(async () => {
    assert.equal(await tb.stopDaemon(h1), 0);
    await listener.waitFor('STOPPING=1');
  }));

  it('wrote nothing but JSON lines to its log, from start to stop (grpc-js and Node warnings included)', () => {
    const raw = tb.daemonLog(h1).split('\n')
      .filter((l) => l !== '' && !l.startsWith('--- start ')) // the harness's own marker between starts
      .filter((l) => {
        try {
          return typeof (JSON.parse(l) as { level?: unknown }).level !== 'number';
        } catch {
          return true;
        }
      });
    assert.deepEqual(raw, []);
  });

  it('doctor flags a disabled ip_forward, a wrong MTU and a duplicate PublicIP, with fixes', () => tb.explainFailure(async () => {
    await tb.stopDaemon(h2);
    await tb.exec(h2, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    // The interface MTU shrank under a subnet.env that still says 1500.
    await tb.exec(h2, ['ip', 'link', 'set', 'eth0', 'mtu', '1400']);
    await tb.etcdctl(['put', `${tb.prefix}/subnets/10.0.250.0-24`, `{"PublicIP":"${h2.ip}","PublicIPv6":null,"BackendType":"alloc"}`]);
    const r = await cli(h2, ['doctor', '--json', ...tb.daemonArgs(h2)]);
    assert.equal(r.code, 1, r.stderr);
    const checks = new Map((JSON.parse(r.stdout) as Array<{ id: string; status: string; fix?: string; detail: string }>)
      .map((c) => [c.id, c]));
    assert.equal(checks.get('ip_forward')?.status, 'fail');
    assert.match(checks.get('ip_forward')?.fix ?? '', /sysctl -w net\.ipv4\.ip_forward=1/);
    assert.equal(checks.get('flannel_mtu')?.status, 'fail');
    assert.match(checks.get('flannel_mtu')?.detail ?? '', /FLANNEL_MTU=1500 .* at most 1400/);
    assert.equal(checks.get('duplicate_public_ip')?.status, 'fail');
    assert.match(checks.get('duplicate_public_ip')?.fix ?? '', /etcdctl .* del /);
    assert.equal(checks.get('etcd')?.status, 'ok');
    assert.equal(checks.get('network_config')?.status, 'ok');
    assert.equal(checks.get('interface')?.status, 'ok');

    await tb.exec(h2, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await tb.exec(h2, ['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
    await tb.etcdctl(['del', `${tb.prefix}/subnets/10.0.250.0-24`]);
    const fixed = await cli(h2, ['doctor', ...tb.daemonArgs(h2)]);
    assert.match(fixed.stdout, /^\[ ok \] ip_forward: /m);
    assert.match(fixed.stdout, /^\[ ok \] flannel_mtu: FLANNEL_MTU=1500 matches/m);
    assert.match(fixed.stdout, /^\[ ok \] duplicate_public_ip: /m);
    assert.equal(fixed.code, 0, fixed.stdout);
  }));
});

describe('datapath counters in status and /metrics (userspace vxlan)', { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
  });

  after(async () => {
    await tb?.destroy();
  });

  it('counts the packets of a ping in the daemon\'s status file and metrics', async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    try {
      await tb.putConfig({ Network: '10.0.0.0/16', Backend: { Type: 'vxlan' } });
      tb.startDaemon(h1, ['--vxlan-datapath', 'userspace', ...HEALTH]);
      tb.startDaemon(h2, ['--vxlan-datapath', 'userspace']);
      await tb.waitForSubnetEnv(h1);
      await tb.waitForSubnetEnv(h2);
      const c1 = await tb.addContainer(h1, 'c1', { txChecksumOff: true });
      const c2 = await tb.addContainer(h2, 'c2', { txChecksumOff: true });
      await tb.waitForPing(c1, c2.ip);
      const metrics = (await tb.exec(h1, ['curl', '-s', 'http://127.0.0.1:8471/metrics'])).stdout;
      assert.ok(Number(/^flannel_datapath_packets_total\{direction="tx"\} (\d+)$/m.exec(metrics)?.[1]) >= 1, metrics);
      assert.ok(Number(/^flannel_datapath_packets_total\{direction="rx"\} (\d+)$/m.exec(metrics)?.[1]) >= 1, metrics);
      assert.match(metrics, /^flannel_datapath_drops_total\{reason="bad_vni"\} \d+$/m);
      // The status file is rewritten every 5 s; wait for a copy that has seen the ping.
      const report = await poll('status with datapath counters', async () => {
        const r = await tb.exec(h1, [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(h1)]);
        const parsed = JSON.parse(r.stdout) as { daemon: { running: boolean; counters: Record<string, number> } };
        return (parsed.daemon.counters.rx_packets ?? 0) >= 1 ? parsed : null;
      }, 20_000, 500);
      assert.equal(report.daemon.running, true);
      assert.ok((report.daemon.counters.tx_packets ?? 0) >= 1);

      // doctor next to the running daemon: its own UDP socket on 8472 and its TUN device are not problems.
      const doctor = await tb.exec(h1, [process.execPath, CLI_JS, 'doctor', '--json', ...tb.daemonArgs(h1)]);
      const checks = new Map((JSON.parse(doctor.stdout) as Array<{ id: string; status: string; detail: string }>)
        .map((c) => [c.id, c]));
      assert.equal(checks.get('udp_port')?.status, 'ok', JSON.stringify(checks.get('udp_port')));
      assert.match(checks.get('udp_port')?.detail ?? '', /in use by flannel itself/);
      assert.equal(checks.get('flannel_mtu')?.status, 'ok', JSON.stringify(checks.get('flannel_mtu')));
      for (const id of ['etcd', 'network_config', 'interface', 'duplicate_public_ip', 'dev_net_tun']) {
        assert.equal(checks.get(id)?.status, 'ok', `${id}: ${JSON.stringify(checks.get(id))}`);
      }
      const text = await tb.exec(h1, [process.execPath, CLI_JS, 'status', ...tb.daemonArgs(h1)]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^Peers \(1\):$/m);
      assert.ok(text.stdout.includes(h2.ip), text.stdout);
    } catch (e) {
      if (e instanceof Error) e.message += `\n${tb.allLogs()}`;
      throw e;
    }
  });
});
