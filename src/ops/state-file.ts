// A small JSON file the running daemon keeps next to subnet.env, so `tsflanneld status` can show datapath
// counters without the health server: `<dir of subnet.env>/tsflanneld-status.<subnet.env name>.json`.
// Rewritten atomically when its content changes (peers debounced; the counters looked at every few seconds), never
// just because time passed: an idle daemon does not touch the disk. Removed on a clean exit; `pid` tells a stale
// file from a live one, and `updated` is when the content last changed. It also names the etcd the daemon uses, so `status` typed without
// the daemon's sysconfig variables reads the same prefix.
import fs from 'node:fs';
import path from 'node:path';

export interface DaemonState {
  readonly pid: number;
  readonly updated: string;
  readonly subnet: string;
  readonly publicIP: string;
  readonly backendType: string;
  readonly mtu: number;
  /** The daemon's health server, when --healthz-port is set: `http://ip:port`. */
  readonly healthz: string | null;
  readonly counters: Readonly<Record<string, number>>;
  /** The daemon's etcd endpoints (without any user:password@) and prefix; absent in files of older versions. */
  readonly etcdEndpoints?: readonly string[];
  readonly etcdPrefix?: string;
  /** Peers the daemon was last told of by its watcher. */
  readonly peers?: number;
}

/** An endpoint URL without credentials, for a world-readable file. Pure. */
export function withoutUserinfo(endpoint: string): string {
  return endpoint.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

export function stateFilePath(subnetFile: string): string {
  return path.join(path.dirname(subnetFile), `tsflanneld-status.${path.basename(subnetFile)}.json`);
}

export function writeStateFile(file: string, state: DaemonState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk leaves no empty temp file behind
    throw e;
  }
}

/** Writes the file only when something but `updated` differs from what it last wrote. */
export class StateFileWriter {
  private last: string | null = null;

  constructor(readonly file: string) {}

  /** True when the file was written; throws as writeStateFile (and writes again next time). */
  write(state: Omit<DaemonState, 'updated'>, now = new Date()): boolean {
    const content = JSON.stringify(state);
    if (content === this.last) return false;
    this.last = null;
    writeStateFile(this.file, { ...state, updated: now.toISOString() });
    this.last = content;
    return true;
  }
}

export function removeStateFile(file: string): void {
  fs.rmSync(file, { force: true });
}

/** The state of a live daemon, or null when there is no file, it is unreadable, or its process is gone. */
export function readLiveState(file: string): DaemonState | null {
  let state: DaemonState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as DaemonState;
  } catch {
    return null;
  }
  if (typeof state.pid !== 'number') return null;
  try {
    process.kill(state.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  return state;
}
