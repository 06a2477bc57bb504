// The VtepMAC a host publishes, kept on disk so that it survives a reboot (fix of upstream #1795: a new random
// MAC after a reboot left stale ARP/FDB entries on peers until their daemons restarted).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAC_TEXT = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A random locally administered unicast MAC, as upstream's mac.NewHardwareAddr makes it. */
export function randomVtepMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return formatMac(b);
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** True for a lower-case `aa:bb:cc:dd:ee:ff` unicast MAC that is not all zeros. */
export function isUsableVtepMac(text: string): boolean {
  if (!MAC_TEXT.test(text)) return false;
  const first = parseInt(text.slice(0, 2), 16);
  return (first & 0x01) === 0 && text !== '00:00:00:00:00:00';
}

export function vtepMacStatePath(stateDir: string, deviceName: string): string {
  return join(stateDir, `${deviceName}.vtep-mac`);
}

/**
 * The MAC kept for `deviceName` under `stateDir`, or a new random one that is stored first (atomically: temp file,
 * fsync, rename), so a crash never leaves a half-written file. An unreadable or invalid file is replaced.
 */
export async function loadOrCreateVtepMac(stateDir: string, deviceName: string): Promise<string> {
  const path = vtepMacStatePath(stateDir, deviceName);
  const stored = await readFile(path, 'utf8').then((t) => t.trim().toLowerCase(), () => null);
  if (stored !== null && isUsableVtepMac(stored)) return stored;
  const mac = randomVtepMac();
  await storeVtepMac(stateDir, deviceName, mac);
  return mac;
}

/** Writes `mac` as the kept MAC of `deviceName` (atomic replace). */
export async function storeVtepMac(stateDir: string, deviceName: string, mac: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o755 });
  const path = vtepMacStatePath(stateDir, deviceName);
  const temp = `${path}.${process.pid}.tmp`;
  const file = await open(temp, 'w', 0o644);
  try {
    await file.writeFile(`${mac}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
