// Keeps a userspace datapath's open fds (TUN queues, sockets) beyond this process, for each half of a backend alike:
// in systemd's fd store (kept over a restart or a crash) and offered to a reload (kept over the exec). The pause a
// reload asks for is posted to the backend's work queue, in line with the peer updates, so the table handed over
// is the one the loops had.
import type { Logger } from '../../log.js';
import type { DatapathFds, DatapathHandover } from '../../reload/handover.js';
import { forgetDatapathFds, storeDatapathFds } from '../../reload/fd-store.js';
import { registerHandover } from '../../reload/reexec.js';
import type { BackendWork } from '../backend.js';

export interface KeptFdsSpec {
  readonly device: string;
  readonly log: Logger;
  /** Where the pause is posted (absent: paused at once). */
  readonly work?: BackendWork;
  /** Stops the loops (fds open) and says what the next process takes over. Throws when there is nothing to hand. */
  readonly pause: () => Promise<DatapathHandover>;
  /** The exec failed: the loops carry on. */
  readonly resume: () => void;
}

export class KeptFds {
  private unregister: (() => void) | null = null;
  /** The fds last given to the fd store: a teardown (which may follow withdraw()) removes them by name. */
  private stored: DatapathFds | null = null;

  constructor(private readonly spec: KeptFdsSpec) {}

  /** Stores `fds` and offers the datapath to a reload; called again whenever the datapath's fds change. */
  keep(fds: DatapathFds): void {
    const { device, log, work } = this.spec;
    storeDatapathFds(device, fds, log);
    this.stored = fds;
    this.unregister ??= registerHandover({
      device,
      pause: () => new Promise<DatapathHandover>((resolve, reject) => {
        const pause = async (): Promise<void> => {
          try {
            resolve(await this.spec.pause());
          } catch (err) {
            reject(err as Error);
          }
        };
        if (work) work.post(`pause ${device} for a reload`, pause);
        else void pause();
      }),
      resume: () => this.spec.resume(),
    });
  }

  /** No longer offered to a reload (the backend stops). */
  withdraw(): void {
    this.unregister?.();
    this.unregister = null;
  }

  /** Out of the fd store too (the backend is torn down: its devices go). */
  forget(): void {
    this.withdraw();
    if (this.stored) forgetDatapathFds(this.spec.device, this.stored);
    this.stored = null;
  }
}
