// systemd's readiness protocol (sd_notify) through the native addon: READY=1 once subnet.env is written,
// STATUS= lines with the lease, RELOADING=1 on a reload, STOPPING=1 on exit (FDSTORE=1: src/reload/fd-store.ts). Without NOTIFY_SOCKET every call is a no-op, as in upstream.
import { loadAddon } from '../native/addon.js';
import { log } from '../log.js';

interface NotifyAddon {
  /** false when no socket is named; throws with a one-line message when the send fails. */
  sdNotify(state: string, socketPath?: string): boolean;
}

const notifyLog = log.child({ component: 'sd-notify' });

/**
 * Sends one notification (newline-separated `KEY=value` assignments) to $NOTIFY_SOCKET, or to `socketPath`.
 * Returns true when sent, false when there is no socket; a failure is logged, never thrown (upstream only logs).
 */
export function sdNotify(state: string, socketPath?: string): boolean {
  const path = socketPath ?? process.env.NOTIFY_SOCKET;
  if (path === undefined || path === '') return false;
  try {
    return (loadAddon() as NotifyAddon).sdNotify(state, path);
  } catch (err) {
    notifyLog.warn({ err: (err as Error).message, state }, 'sd_notify failed');
    return false;
  }
}

/** READY=1 together with a STATUS= line describing the lease. */
export function notifyReady(status: string): boolean {
  return sdNotify(`READY=1\nSTATUS=${oneLine(status)}`);
}

export function notifyStatus(status: string): boolean {
  return sdNotify(`STATUS=${oneLine(status)}`);
}

/**
 * RELOADING=1 before a reload (SIGHUP re-exec); the new process's READY=1 ends it. systemd wants the
 * CLOCK_MONOTONIC time with it (MONOTONIC_USEC), which is what process.hrtime counts.
 */
export function notifyReloading(): boolean {
  return sdNotify(`RELOADING=1\nSTATUS=Reloading\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
}

export function notifyStopping(): boolean {
  return sdNotify('STOPPING=1\nSTATUS=Exiting');
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
