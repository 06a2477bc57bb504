// The host-gw backend on two namespaces joined by a veth pair (192.0.2.0/24): the exact routes it installs, stale
// route cleanup at start (upstream #2554, only routes carrying our protocol), lease changes, and repair of routes
// deleted by hand or flushed by a link flap — through the monitor, and through the periodic check alone.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, afterEach, before, test } from 'node:test';
import { execCommand, inNetns } from '../support/netns.js';
import { waitFor } from '../support/proc.js';
import { ipIn, JsonLines, labUnavailable, NsLab, routeLines } from '../support/nl-lab.js';

const skip = labUnavailable();
let lab: NsLab;
let h1: string;
let h2: string;
let U: string; // h1's underlay, 192.0.2.1/24, MTU 1450

interface Reply { op: string; seq?: number; ok: boolean; value?: unknown; error?: string }
interface Peer { subnet: string; publicIP: string; backendType?: string }

const OWN: Peer = { subnet: '10.5.1.0/24', publicIP: '192.0.2.1', backendType: 'host-gw' };
const hg = (subnet: string, publicIP: string): Peer => ({ subnet, publicIP, backendType: 'host-gw' });

class Backend {
  /** Helpers still running; a test that fails half-way must not leave its backend repairing routes for the next. */
  static readonly live = new Set<Backend>();
  private seq = 0;
  readonly lines: JsonLines<Reply>;
  constructor(readonly child: ChildProcess) {
    this.lines = new JsonLines<Reply>(child);
    Backend.live.add(this);
    child.once('exit', () => Backend.live.delete(this));
  }

  /** `wait`, with the helper's log appended to its failure: a repair that did not happen says why. */
  async explained<T>(wait: Promise<T>): Promise<T> {
    return wait.catch((e: Error) => { throw new Error(`${e.message}\n${this.lines.recentLog()}`); });
  }

  static async start(ns: string, args: Record<string, unknown>): Promise<Backend> {
    const b = new Backend(lab.spawnHelper(ns, 'hostgw-run', [JSON.stringify({ iface: U, network: '10.5.0.0/16', own: OWN, ...args })]));
    const ready = await b.lines.waitFor((l) => l.op === 'ready', 'host-gw helper ready');
    if (!ready.ok) throw new Error(`helper failed: ${ready.error}`);
    return b;
  }

  async call(op: string, body: Record<string, unknown> = {}): Promise<Reply> {
    const seq = ++this.seq;
    this.child.stdin?.write(`${JSON.stringify({ op, seq, ...body })}\n`);
    return this.lines.waitFor((l) => l.seq === seq, `reply to ${op}`);
  }

  async ok(op: string, body: Record<string, unknown> = {}): Promise<unknown> {
    const r = await this.call(op, body);
    if (!r.ok) throw new Error(`${op} failed: ${r.error}`);
    return r.value;
  }

  async counters(): Promise<Record<string, number>> {
    return (await this.ok('counters')) as Record<string, number>;
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.ok('stop');
    await exited;
  }
}

afterEach(() => {
  for (const b of Backend.live) b.child.kill('SIGKILL');
});

before(async () => {
  if (skip) return;
  lab = await NsLab.create();
  h1 = await lab.netns('h1');
  h2 = await lab.netns('h2');
  U = lab.dev('u');
  const peerEnd = lab.dev('p');
  await ipIn(h1, 'link', 'add', U, 'mtu', '1450', 'type', 'veth', 'peer', 'name', peerEnd, 'netns', h2);
  await ipIn(h1, 'addr', 'add', '192.0.2.1/24', 'dev', U);
  await ipIn(h1, 'link', 'set', U, 'up');
  await ipIn(h2, 'link', 'set', peerEnd, 'mtu', '1450');
  await ipIn(h2, 'addr', 'add', '192.0.2.2/24', 'dev', peerEnd);
  await ipIn(h2, 'link', 'set', peerEnd, 'up');
  // h2's "container" address inside its subnet, so h1's route can be proven with a ping.
  await ipIn(h2, 'addr', 'add', '10.5.2.1/32', 'dev', 'lo');
});

after(async () => {
  if (lab) await lab.destroy();
});

const opts = { skip: skip ?? false };

test('behind NAT (public IP ≠ interface address) host-gw refuses to register, saying why', opts, async () => {
  const b = await Backend.start(h1, { publicIP: '203.0.113.5' });
  const r = await b.call('register');
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /public IP 203\.0\.113\.5 differs from the address 192\.0\.2\.1 of interface .*NAT/);
  await b.stop();
});

test('start: exact routes per host-gw lease, stale routes of ours removed, everyone else\'s kept, reachable by ping', opts, async () => {
  // Left from "an earlier run" and by others.
  await ipIn(h1, 'route', 'add', '10.5.9.0/24', 'via', '192.0.2.9', 'dev', U, 'proto', '84');
  await ipIn(h1, 'route', 'add', '10.5.8.0/24', 'via', '192.0.2.8', 'dev', U, 'proto', 'static');
  await ipIn(h1, 'route', 'add', '10.6.0.0/24', 'via', '192.0.2.6', 'dev', U, 'proto', '84');
  await ipIn(h1, 'route', 'add', '10.5.3.0/24', 'via', '192.0.2.33', 'dev', U);

  const b = await Backend.start(h1, { registered: true });
  assert.deepEqual(await b.ok('register'), { backendType: 'host-gw', mtu: 1450 });
  await b.ok('start');
  await b.ok('reset', {
    peers: [OWN, hg('10.5.2.0/24', '192.0.2.2'), hg('10.5.3.0/24', '192.0.2.3'), { subnet: '10.5.4.0/24', publicIP: '192.0.2.4', backendType: 'vxlan' }],
  });
  assert.deepEqual(await routeLines(h1), [
    `10.5.2.0/24 via 192.0.2.2 dev ${U} proto 84`,
    `10.5.3.0/24 via 192.0.2.3 dev ${U} proto 84`,
    `10.5.8.0/24 via 192.0.2.8 dev ${U} proto static`,
    `10.6.0.0/24 via 192.0.2.6 dev ${U} proto 84`,
    `192.0.2.0/24 dev ${U} proto kernel scope link src 192.0.2.1`,
  ]);
  const c = await b.counters();
  assert.deepEqual([c.routesAdded, c.routesReplaced, c.routesRemoved], [1, 1, 1]);
  const ping = await execCommand(inNetns(h1, ['ping', '-c', '1', '-W', '5', '10.5.2.1']));
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  // stop() leaves the routes in place, as upstream does: a restart must not cut traffic.
  await b.stop();
  assert.equal((await routeLines(h1, 'proto', '84')).length, 3);
});

test('lease events: a new lease adds its route, a removed one takes it along, a changed PublicIP replaces it', opts, async () => {
  const b = await Backend.start(h1, { resyncIntervalMs: 3_600_000 });
  await b.ok('start');
  await b.ok('reset', { peers: [hg('10.5.2.0/24', '192.0.2.2'), hg('10.5.3.0/24', '192.0.2.3')] });
  await b.ok('events', { events: [{ type: 'added', ...hg('10.5.5.0/24', '192.0.2.5') }] });
  assert.deepEqual(await routeLines(h1, '10.5.5.0/24'), [`10.5.5.0/24 via 192.0.2.5 dev ${U} proto 84`]);
  await b.ok('events', { events: [{ type: 'removed', ...hg('10.5.2.0/24', '192.0.2.2') }] });
  assert.deepEqual(await routeLines(h1, '10.5.2.0/24'), []);
  await b.ok('events', { events: [{ type: 'added', ...hg('10.5.3.0/24', '192.0.2.33') }] });
  assert.deepEqual(await routeLines(h1, '10.5.3.0/24'), [`10.5.3.0/24 via 192.0.2.33 dev ${U} proto 84`]);
  assert.equal((await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16')).length, 2);

  // A route deleted by hand comes back through the monitor (the periodic check is an hour away here).
  await ipIn(h1, 'route', 'del', '10.5.5.0/24');
  await b.explained(waitFor(async () => (await routeLines(h1, '10.5.5.0/24')).length === 1, { what: 'hand-deleted route to return', timeoutMs: 15_000 }));
  assert.deepEqual(await routeLines(h1, '10.5.5.0/24'), [`10.5.5.0/24 via 192.0.2.5 dev ${U} proto 84`]);
  assert.equal((await b.counters()).routesRecovered, 1);

  // A link flap flushes every route through it without a per-route notification; they come back when it is up.
  await ipIn(h1, 'link', 'set', U, 'down');
  await ipIn(h1, 'link', 'set', U, 'up');
  await b.explained(waitFor(async () => (await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16')).length === 2, { what: 'routes back after link flap', timeoutMs: 15_000 }));
  await b.stop();
});

test('a burst of 150 leases in one list: every route in, one summary log line instead of a line per route', opts, async () => {
  const b = await Backend.start(h1, { resyncIntervalMs: 3_600_000 });
  await b.ok('start');
  await b.ok('reset', { peers: Array.from({ length: 150 }, (_, i) => hg(`10.5.${10 + i}.0/24`, `192.0.2.${10 + i}`)) });
  assert.equal((await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16')).length, 150);
  await b.explained(waitFor(() => /peer pass: 150 × route added/.test(b.lines.recentLog()), { what: 'the summary line', timeoutMs: 10_000 }));
  assert.ok((b.lines.recentLog().match(/"msg":"route added"/g) ?? []).length <= 8, b.lines.recentLog());
  await b.stop();
  await ipIn(h1, 'route', 'flush', 'proto', '84', 'root', '10.5.0.0/16');
});

test('without the monitor, the periodic check alone repairs a deleted route', opts, async () => {
  const b = await Backend.start(h1, { resyncIntervalMs: 200, watchKernel: false });
  await b.ok('start');
  await b.ok('reset', { peers: [hg('10.5.3.0/24', '192.0.2.3')] });
  // The reset removed 10.5.5.0/24 (ours, no lease now) and fixed 10.5.3.0/24.
  assert.deepEqual(await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16'), [`10.5.3.0/24 via 192.0.2.3 dev ${U}`]);
  await ipIn(h1, 'route', 'del', '10.5.3.0/24');
  await waitFor(async () => (await routeLines(h1, '10.5.3.0/24')).length === 1, { what: 'periodic repair', timeoutMs: 15_000 });
  assert.ok(((await b.counters()).routesRecovered ?? 0) >= 1);
  await b.stop();
});

test('a route that failed is retried soon after, without waiting for the periodic check or the monitor', opts, async () => {
  // An hour between periodic checks and no monitor: only the retry after a failed pass can install the route.
  const b = await Backend.start(h1, { resyncIntervalMs: 3_600_000, watchKernel: false });
  await b.ok('start');
  // 198.51.100.9 is on no network of h1 yet, so the kernel refuses the route (ENETUNREACH).
  await b.ok('reset', { peers: [hg('10.5.9.0/24', '198.51.100.9')] });
  assert.deepEqual(await routeLines(h1, '10.5.9.0/24'), []);
  assert.ok(((await b.counters()).routeErrors ?? 0) >= 1, 'the failed install is counted');
  await ipIn(h1, 'addr', 'add', '198.51.100.1/24', 'dev', U);
  try {
    await b.explained(waitFor(async () => (await routeLines(h1, '10.5.9.0/24')).length === 1, { what: 'route installed by a retry', timeoutMs: 15_000 }));
    assert.deepEqual(await routeLines(h1, 'proto', '84', '10.5.9.0/24'), [`10.5.9.0/24 via 198.51.100.9 dev ${U}`]);
    assert.equal((await b.counters()).routesAdded, 1);
    await b.stop();
  } finally {
    await ipIn(h1, 'addr', 'del', '198.51.100.1/24', 'dev', U);
  }
});

test('teardown removes every route of ours in the Network, and nobody else\'s (the first half of a backend switch)', opts, async () => {
  await ipIn(h1, 'route', 'replace', '10.5.8.0/24', 'via', '192.0.2.8', 'dev', U, 'proto', 'static');
  const b = await Backend.start(h1, { resyncIntervalMs: 3_600_000 });
  await b.ok('start');
  await b.ok('reset', { peers: [hg('10.5.2.0/24', '192.0.2.2'), hg('10.5.3.0/24', '192.0.2.3')] });
  assert.equal((await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16')).length, 2);
  // A route of ours for a lease the backend never saw (an earlier run) goes too.
  await ipIn(h1, 'route', 'replace', '10.5.7.0/24', 'via', '192.0.2.7', 'dev', U, 'proto', '84');
  const exited = new Promise((r) => b.child.once('exit', r));
  await b.ok('teardown');
  await exited;
  assert.deepEqual(await routeLines(h1, 'proto', '84', 'root', '10.5.0.0/16'), []);
  assert.deepEqual(await routeLines(h1, '10.5.8.0/24'), [`10.5.8.0/24 via 192.0.2.8 dev ${U} proto static`]);
  await ipIn(h1, 'route', 'del', '10.5.8.0/24');
});
