// The process signals the daemon answers: SIGTERM/SIGINT stop it, SIGHUP reloads it (re-exec keeping the datapath).
import type { Logger } from './log.js';
import { notifyReady, notifyReloading } from './ops/sd-notify.js';
import { reexec } from './reload/reexec.js';

/** The process's SIGTERM/SIGINT as an AbortSignal; a second signal exits at once. */
export function processStopSignal(log: Logger): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      log.warn(`second ${sig}: exiting now`);
      process.exit(0);
    }
    log.info(`received ${sig}, shutting down`);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return controller.signal;
}

/**
 * SIGHUP (`systemctl reload`): re-execute, keeping the datapath's fds (src/reload/reexec.ts). Ignored while starting
 * (`reloadable` false) or stopping, when the default action (exit 129) would end the daemon and a re-exec would start
 * it over.
 */
export function onSighup(log: Logger, reloadable: () => boolean, stop: AbortSignal): void {
  let reloading = false;
  process.on('SIGHUP', () => {
    if (!reloadable() || stop.aborted || reloading) {
      log.warn(`received SIGHUP: ignored (${reloading ? 'already reloading' : stop.aborted ? 'stopping' : 'still starting'})`);
      return;
    }
    reloading = true;
    log.info('received SIGHUP: reloading');
    notifyReloading();
    void reexec(log).then(() => {
      // Only reached when the exec failed: the daemon runs on as it was.
      reloading = false;
      notifyReady('Reload failed; running as before');
    });
  });
}
