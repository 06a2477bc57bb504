// The kernel vxlan datapath's device at start: whatever flannel.1 a host has when the daemon starts, the start ends
// with upstream's attributes and the MAC the lease publishes; a device the kernel refuses ends the start with one
// line that names the cause, and no subnet.env.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, UNDERLAY_IFACE, type Host } from '../support/testbed.js';

const CONFIG = { Network: '10.7.0.0/16', Backend: { Type: 'vxlan' } };
const DEVICE = 'flannel.1';
const KERNEL = ['--vxlan-datapath', 'kernel'];
const skip = testbedUnavailable([]);

interface LinkJson {
  readonly ifindex: number;
  readonly mtu: number;
  readonly address: string;
  readonly linkinfo?: { readonly info_kind?: string; readonly info_data?: Record<string, unknown> };
}

describe('kernel vxlan start: the device it finds or makes', { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;
  let h: Host;

  before(async () => {
    tb = await Testbed.create({ hosts: 1 });
    h = tb.host(1);
    await tb.putConfig(CONFIG);
  });

  after(async () => {
    await tb?.destroy();
  });

  async function sh(argv: readonly string[]): Promise<string> {
    const r = await tb.exec(h, argv);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  const link = async (name: string): Promise<LinkJson> => (JSON.parse(await sh(['ip', '-d', '-j', 'link', 'show', name])) as LinkJson[])[0]!;
  const underlayMtu = async (): Promise<number> => (await link(UNDERLAY_IFACE)).mtu;

  /** The VtepMAC our lease publishes. */
  async function leaseMac(): Promise<string> {
    const values = [...(await tb.leases()).values()].map((v) => JSON.parse(v) as { PublicIP: string; BackendData?: { VtepMAC?: string } });
    const mine = values.find((v) => v.PublicIP === h.ip);
    assert.ok(mine?.BackendData?.VtepMAC, `a lease of ${h.ip} with a VtepMAC`);
    return mine.BackendData.VtepMAC;
  }

  async function startAndWait(extra: readonly string[] = KERNEL): Promise<void> {
    if (h.daemon) await tb.stopDaemon(h);
    fs.rmSync(h.subnetFile, { force: true });
    tb.startDaemon(h, extra);
    await tb.waitForSubnetEnv(h, 30_000);
  }

  it('replaces a stale flannel.1 of other attributes and ends with upstream\'s and the lease\'s MAC', () => tb.explainFailure(async () => {
    await sh(['ip', 'link', 'add', DEVICE, 'type', 'vxlan', 'id', '1', 'local', h.ip, 'dev', UNDERLAY_IFACE,
      'dstport', '4789', 'learning']);
    await sh(['ip', 'link', 'set', DEVICE, 'mtu', '1300']);
    const stale = await link(DEVICE);
    await startAndWait();
    const now = await link(DEVICE);
    assert.notEqual(now.ifindex, stale.ifindex, 'the incompatible device was replaced');
    assert.equal(now.linkinfo?.info_kind, 'vxlan');
    assert.equal(now.linkinfo?.info_data?.port, 8472, 'upstream\'s port');
    assert.equal(now.linkinfo?.info_data?.learning, false, 'nolearning, as upstream');
    assert.equal(now.mtu, (await underlayMtu()) - 50, 'MTU = underlay − 50');
    assert.equal(now.address, await leaseMac(), 'the device has the MAC the lease publishes');
    assert.match(tb.daemonLog(h), /existing flannel\.1 is incompatible; deleting and recreating it/);
  }));

  it('keeps a compatible flannel.1, fixes its MTU and publishes its MAC, kept in --state-dir', () => tb.explainFailure(async () => {
    await tb.stopDaemon(h);
    await sh(['ip', 'link', 'del', DEVICE]);
    const foreign = '0e:11:22:33:44:55';
    await sh(['ip', 'link', 'add', DEVICE, 'address', foreign, 'mtu', '1234', 'type', 'vxlan', 'id', '1', 'local', h.ip,
      'dev', UNDERLAY_IFACE, 'dstport', '8472', 'nolearning']);
    const before = await link(DEVICE);
    await startAndWait();
    const now = await link(DEVICE);
    assert.equal(now.ifindex, before.ifindex, 'the compatible device was kept');
    assert.equal(now.mtu, (await underlayMtu()) - 50, 'its MTU was set');
    assert.equal(await leaseMac(), foreign, 'the lease publishes the kept device\'s MAC');
    await poll('the adopted MAC kept in --state-dir', () => {
      const text = fs.readFileSync(`${h.stateDir}/${DEVICE}.vtep-mac`, 'utf8').trim();
      return text === foreign ? true : null;
    }, 10_000);
  }));

  it('a VNI another vxlan device takes fails the start with one line naming the clash, and no subnet.env', () => tb.explainFailure(async () => {
    await tb.stopDaemon(h);
    await sh(['ip', 'link', 'del', DEVICE]);
    // The kernel refuses a second vxlan device with the same VNI, port and local address.
    await sh(['ip', 'link', 'add', 'kst-clash', 'type', 'vxlan', 'id', '1', 'local', h.ip, 'dev', UNDERLAY_IFACE,
      'dstport', '8472', 'nolearning']);
    try {
      fs.rmSync(h.subnetFile, { force: true });
      const logStart = tb.daemonLog(h).length;
      const child = tb.startDaemon(h, KERNEL);
      const code = await new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) resolve(child.exitCode);
        else child.once('exit', (c) => resolve(c));
      });
      assert.equal(code, 1, 'the daemon exits with status 1');
      assert.equal(fs.existsSync(h.subnetFile), false, 'no subnet.env was written');
      const out = tb.daemonLog(h).slice(logStart);
      const fatal = out.split('\n').filter((l) => l.includes('"level":60'));
      assert.equal(fatal.length, 1, `one fatal line:\n${out}`);
      assert.match(fatal[0]!, /cannot create flannel\.1: another vxlan device already takes vxlan id 1 dstport 8472/);
      assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(out, /"msg":"running"/, 'the start went no further');
    } finally {
      await sh(['ip', 'link', 'del', 'kst-clash']);
    }
  }));
});
