import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isUsableVtepMac, loadOrCreateVtepMac, randomVtepMac, vtepMacStatePath,
} from '../../src/backend/vxlan/vtep-mac.js';

test('random VtepMACs are locally administered unicast and differ', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const mac = randomVtepMac();
    assert.ok(isUsableVtepMac(mac), mac);
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0x03, 0x02, `${mac} must be local (bit 1) and unicast (bit 0 clear)`);
    seen.add(mac);
  }
  assert.ok(seen.size > 190);
});

test('the MAC is created once, kept in the state dir and reused (upstream #1795)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsfl-vtep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'nested', 'state');
  const first = await loadOrCreateVtepMac(stateDir, 'flannel.1');
  assert.ok(isUsableVtepMac(first));
  assert.equal(await loadOrCreateVtepMac(stateDir, 'flannel.1'), first);
  assert.equal((await readFile(vtepMacStatePath(stateDir, 'flannel.1'), 'utf8')).trim(), first);
  assert.equal((await stat(vtepMacStatePath(stateDir, 'flannel.1'))).mode & 0o777, 0o644);
  const other = await loadOrCreateVtepMac(stateDir, 'flannel.2');
  assert.notEqual(other, first);
  assert.deepEqual((await readdir(stateDir)).sort(), ['flannel.1.vtep-mac', 'flannel.2.vtep-mac'], 'no temp files left');
});

test('a corrupt or multicast state file is replaced with a fresh MAC', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsfl-vtep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const junk of ['garbage', '01:00:5e:00:00:01', '00:00:00:00:00:00', '']) {
    await writeFile(vtepMacStatePath(dir, 'flannel.1'), junk);
    const mac = await loadOrCreateVtepMac(dir, 'flannel.1');
    assert.ok(isUsableVtepMac(mac));
    assert.notEqual(mac, junk);
    assert.equal(await loadOrCreateVtepMac(dir, 'flannel.1'), mac);
  }
  await writeFile(vtepMacStatePath(dir, 'flannel.1'), 'AA:BB:CC:DD:EE:F0\n');
  assert.equal(await loadOrCreateVtepMac(dir, 'flannel.1'), 'aa:bb:cc:dd:ee:f0', 'upper case is accepted');
});
