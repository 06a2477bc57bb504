// SIGHUP: the daemon re-executes itself, the program on disk included (an upgrade takes effect), as the same process
// (execve keeps the PID: systemd's main PID, NotifyAccess=main and the subnet file lock stay valid). Each datapath
// pauses its loops between batches, so no packet is half-processed, and leaves its TUN queues and sockets open across
// the exec; the kernel queues what arrives meanwhile (the TUN's txqueuelen, the sockets' receive buffers), and the
// new process adopts the fds with the peer table and reads on. The lease in etcd is not touched: the new process
// takes it again by its PublicIP, so the lease, the peers and subnet.env stay as they were.
import type { Logger } from '../log.js';
import { encodeHandover, HANDOVER_ENV, type DatapathHandover } from './handover.js';
import { reloadNative } from './reload-native.js';

/** Something that holds fds to keep across the exec (the userspace datapath of a backend). */
export interface HandoverParticipant {
  readonly device: string;
  /** Stops using the fds (loops paused, not closed) and says what they are. */
  pause(): Promise<DatapathHandover>;
  /** The exec failed: carry on with the same fds. */
  resume(): void;
}

const participants = new Set<HandoverParticipant>();

/** Registers `p` until the returned function is called (the backend stopped). */
export function registerHandover(p: HandoverParticipant): () => void {
  participants.add(p);
  return () => participants.delete(p);
}

/** The command line that starts this process again: the same node and flags, the same script path (new on disk). */
export function reexecArgv(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

/** The environment of the next process: ours, minus what was meant for us only, plus the handover. */
export function reexecEnv(env: NodeJS.ProcessEnv, handover: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k === HANDOVER_ENV || k.startsWith('LISTEN_')) continue;
    out.push(`${k}=${v}`);
  }
  out.push(`${HANDOVER_ENV}=${handover}`);
  return out;
}

/** Pauses every participant and execs; returns only when the exec failed (logged), after resuming them. */
export async function reexec(log: Logger): Promise<void> {
  const native = reloadNative();
  const paused: HandoverParticipant[] = [];
  const parts: DatapathHandover[] = [];
  const kept: number[] = [];
  try {
    for (const p of participants) {
      parts.push(await p.pause());
      paused.push(p);
    }
    for (const d of parts) {
      for (const fd of [...d.tunFds, ...d.udpFds, ...d.sendFds]) {
        native.fdSetCloexec(fd, false);
        kept.push(fd);
      }
    }
    // Node opens the process with FD_CLOEXEC on stdin, stdout and stderr: without this the new program's log would
    // go to /dev/null.
    for (const fd of [0, 1, 2]) native.fdSetCloexec(fd, false);
    const argv = reexecArgv();
    log.info({ argv, datapaths: parts.map((d) => d.device) }, 'reloading: re-executing with the datapath fds kept open');
    native.execve(argv[0]!, argv, reexecEnv(process.env, encodeHandover({ version: 1, datapaths: parts })));
  } catch (err) {
    log.error(`reload failed, the running daemon carries on: ${(err as Error).message}`);
    for (const fd of kept) {
      try {
        native.fdSetCloexec(fd, true);
      } catch {
        // closed meanwhile
      }
    }
    for (const p of paused) p.resume();
  }
}
