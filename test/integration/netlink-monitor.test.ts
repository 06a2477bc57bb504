// The netlink monitor against a real kernel in a namespace of our own: it tells NEW from DEL for changes made by
// iproute2, and after its socket overflows it rebuilds it, says 'resync', and keeps reporting.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { ipIn, JsonLines, labUnavailable, NsLab } from '../support/nl-lab.js';

const skip = labUnavailable();
let lab: NsLab;
let ns: string;
let A: string;

type Line = { ready?: boolean; resync?: boolean; kind?: string; action?: string; dst?: string; name?: string; protocol?: number };

before(async () => {
  if (skip) return;
  lab = await NsLab.create();
  ns = await lab.netns('mon');
  A = lab.dev('a');
  await ipIn(ns, 'link', 'add', A, 'type', 'veth', 'peer', 'name', lab.dev('b'));
  await ipIn(ns, 'addr', 'add', '192.0.2.1/24', 'dev', A);
  await ipIn(ns, 'link', 'set', A, 'up');
});

after(async () => {
  if (lab) await lab.destroy();
});

test('a route deleted by `ip route del` arrives as a DEL, an added one as a NEW, a link change as a link event', { skip: skip ?? false }, async () => {
  const child = lab.spawnHelper(ns, 'nl-monitor', ['route,link,addr']);
  const lines = new JsonLines<Line>(child);
  await lines.waitFor((l) => l.ready === true, 'monitor ready');
  await ipIn(ns, 'route', 'add', '10.9.1.0/24', 'via', '192.0.2.2', 'dev', A, 'proto', '84');
  const added = await lines.waitFor((l) => l.kind === 'route' && l.dst === '10.9.1.0/24', 'route NEW');
  assert.equal(added.action, 'new');
  assert.equal(added.protocol, 84);
  const mark = lines.lines.length;
  await ipIn(ns, 'route', 'del', '10.9.1.0/24');
  const deleted = await lines.waitFor((l) => l.kind === 'route' && l.dst === '10.9.1.0/24', 'route DEL', mark);
  assert.equal(deleted.action, 'del');
  await ipIn(ns, 'link', 'set', A, 'mtu', '1400');
  const link = await lines.waitFor((l) => l.kind === 'link' && l.name === A, 'link event');
  assert.equal(link.action, 'new');
  await ipIn(ns, 'addr', 'del', '192.0.2.1/24', 'dev', A);
  assert.equal((await lines.waitFor((l) => l.kind === 'addr', 'addr event')).action, 'del');
  child.kill('SIGTERM');
});

test('an overflowing monitor socket is rebuilt with a resync, the process lives, and events flow again', { skip: skip ?? false }, async () => {
  await ipIn(ns, 'addr', 'replace', '192.0.2.1/24', 'dev', A);
  const child = lab.spawnHelper(ns, 'nl-monitor', ['route', '1']);
  const lines = new JsonLines<Line>(child);
  await lines.waitFor((l) => l.ready === true, 'monitor ready');
  const batch = path.join(os.tmpdir(), `${lab.tag}-routes.batch`);
  const cmds: string[] = [];
  for (let i = 0; i < 2000; i++) cmds.push(`route add 10.${120 + (i >> 8)}.${i & 255}.0/24 via 192.0.2.2 dev ${A}`);
  fs.writeFileSync(batch, `${cmds.join('\n')}\n`);
  try {
    await ipIn(ns, '-batch', batch);
  } finally {
    fs.rmSync(batch, { force: true });
  }
  await lines.waitFor((l) => l.resync === true, 'resync after overflow');
  // The rebuilt socket reports changes made after the resync.
  const mark = lines.lines.length;
  await ipIn(ns, 'route', 'add', '10.99.99.0/24', 'via', '192.0.2.2', 'dev', A);
  const seen = await lines.waitFor((l) => l.dst === '10.99.99.0/24', 'route NEW after resync', mark);
  assert.equal(seen.action, 'new');
  assert.equal(child.exitCode, null, 'the monitor process is still running');
  child.kill('SIGTERM');
});
