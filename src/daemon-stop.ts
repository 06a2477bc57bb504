// The daemon's way out: what it has started (Running), the order it is stopped in, and the deadline that ends the
// process when stopping hangs (a frozen etcd, a stuck backend).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type { BackendSwitcher } from './backend/kit/switcher.js';
import type { ConfigFollower } from './config-follow.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './log.js';
import type { EtcdClientOptions } from './subnet/etcd-client.js';
import type { LeaseManager } from './subnet/lease-manager.js';
import type { SubnetEnvWriter } from './subnet/subnet-env.js';
import type { EtcdV2Client } from './subnet/v2/client.js';
import type { LeaseWatcher } from './subnet/watcher.js';
import type { TrafficManager } from './trafficmngr/traffic-manager.js';

/**
 * How long shutdown may take, counted from the stop signal, before the process exits anyway. The health server's
 * grace for open connections fits inside it.
 */
const SHUTDOWN_DEADLINE_MS = 4000;
/**
 * How long stopping waits for etcd (cancelling watches) before going on: a frozen etcd answers never, and the lease
 * stays in etcd as it is whether or not the cancel arrives.
 */
const ETCD_STOP_WAIT_MS = 500;

/** What start-up has brought up so far; stopAll() takes down whatever is there. */
export interface Running {
  readonly client: Etcd3;
  readonly clientOptions: EtcdClientOptions;
  v2Client?: EtcdV2Client | null;
  backend?: BackendSwitcher;
  follower?: ConfigFollower;
  leases?: LeaseManager;
  watcher?: LeaseWatcher;
  subnetEnv?: SubnetEnvWriter;
  traffic?: TrafficManager;
  /** Started up: a SIGHUP now re-executes the daemon (before, it is ignored). */
  reloadable?: boolean;
}

export async function stopAll(r: Running, lifecycle: Lifecycle, log: Logger): Promise<void> {
  const step = async (what: string, f: () => Promise<void> | void): Promise<void> => {
    try {
      await f();
    } catch (e) {
      log.warn(`stopping ${what}: ${(e as Error).message}`);
    }
  };
  const unlessEtcdHangs = (p: Promise<void> | undefined): Promise<void> | undefined =>
    p && Promise.race([p, sleep(ETCD_STOP_WAIT_MS).then(() => log.debug('etcd did not answer while stopping; going on'))]);
  r.subnetEnv?.cancel();
  r.traffic?.stop();
  await step('hooks', () => lifecycle.run('stopping', {}));
  await step('config follower', () => r.follower?.stop());
  await step('watcher', () => unlessEtcdHangs(r.watcher?.stop()));
  await step('lease manager', () => unlessEtcdHangs(r.leases?.stop()));
  await step('backend queue', () => r.backend?.current.drain());
  await step('backend', () => r.backend?.current.stop());
  await step('etcd client', () => r.client.close());
  await step('etcd v2 client', () => r.v2Client?.close());
}

export interface StopWatch {
  /** Resolves when the stop signal arrives (at once if it already has). */
  readonly stopped: Promise<'stopped'>;
  /** Disarms the deadline after a stop that finished in time. */
  disarm(): void;
}

/** Waits for the stop signal and, from then on, gives stopping SHUTDOWN_DEADLINE_MS before exiting anyway. */
export function watchStop(signal: AbortSignal, log: Logger): StopWatch {
  let deadline: NodeJS.Timeout | undefined;
  const stopped = new Promise<'stopped'>((resolve) => {
    const onStop = (): void => {
      // Armed at the signal, not after start-up: a start-up step waiting on a frozen etcd must not delay the exit.
      deadline = setTimeout(() => {
        log.warn(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting anyway`);
        log.info('Exiting cleanly...');
        process.exit(0);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      resolve('stopped');
    };
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
  });
  return { stopped, disarm: () => clearTimeout(deadline) };
}
