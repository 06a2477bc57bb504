// src/netlink/vxlan.ts and neighbours.ts against the real kernel, in a namespace of their own: a VXLAN device with
// every option flannel can set, read back; permanent ARP and FDB entries as iproute2 shows them; idempotent
// replace and delete.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { createNetns, execCommand, inNetns, removeNetns } from '../support/netns.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const PROBE = path.join(__dirname, '..', 'support', 'agents', 'vxlan-netlink-probe.js');
const skip = missingPrerequisite() ?? false;
const ns = `tsfvx${randomBytes(3).toString('hex')}`;

after(async () => {
  await removeNetns(ns).catch(() => undefined);
});

test('creates, reads back and programs a VXLAN device over netlink', { skip, timeout: 30_000 }, async () => {
  await createNetns(ns);
  const r = await execCommand(inNetns(ns, [process.execPath, PROBE]));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.attrs, { vni: 7, localIP: '192.0.2.1', groupIP: null, underlayIndex: out.attrs.underlayIndex,
    port: 4789, learning: true, gbp: true, l2miss: false, l3miss: false });
  assert.ok(out.attrs.underlayIndex > 0);
  assert.equal(out.plain, null, 'a veth has no vxlan attributes');
  assert.equal(out.incompatible, null, 'the device it made is compatible with its spec');
  assert.equal(out.againCode, 'EEXIST');
  assert.equal(out.mac, '0a:00:00:00:00:07');
  assert.equal(out.mtu, 1400);
  assert.match(out.ipLink, /vxlan id 7 local 192\.0\.2\.1 dev under0 srcport 0 0 dstport 4789 ttl auto ageing 300 /);
  assert.match(out.ipLink, / gbp /);
  assert.doesNotMatch(out.ipLink, /nolearning/);
  assert.deepEqual(out.arp, [{ ip: 0x0a050200, mac: '0a:00:00:00:00:02', permanent: true }]);
  assert.deepEqual(out.fdb, [{ mac: '0a:00:00:00:00:02', dst: 0xc0000202, permanent: true, self: true }]);
  assert.equal(out.ipNeigh.trim(), '10.5.2.0 lladdr 0a:00:00:00:00:02 PERMANENT');
  assert.equal(out.bridgeFdb.trim(), '0a:00:00:00:00:02 dst 192.0.2.2 self permanent');
  assert.deepEqual(out.deletes, [true, false, true, false]);
  assert.deepEqual(out.after, { arp: [], fdb: [] });
});
