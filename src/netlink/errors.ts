// Typed netlink errors. The `netlink` package rejects with plain `Error('Request rejected: EEXIST')` (no code),
// with `Error('Timeout has been reached')`, or with a socket ErrnoException; callers branch on `.code` instead.

/** Kernel errno names we branch on, plus our own TIMEOUT (no answer in time) and ESOCKET (the socket failed). */
export type NetlinkErrorCode =
  | 'EEXIST' | 'ESRCH' | 'ENOENT' | 'ENODEV' | 'ENETUNREACH' | 'EADDRNOTAVAIL' | 'EINVAL' | 'EPERM'
  | 'EOPNOTSUPP' | 'EBUSY' | 'ENOBUFS' | 'TIMEOUT' | 'ESOCKET' | 'EUNKNOWN' | (string & {});

export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  constructor(
    readonly code: NetlinkErrorCode,
    /** What we were doing, e.g. `replace route 10.5.2.0/24 via 192.0.2.2`. */
    readonly operation: string,
    detail?: string,
  ) {
    super(`${operation}: ${code}${detail ? ` (${detail})` : ''}`);
  }
}

const REJECTED = /^Request rejected: ([A-Z0-9_]+)$/;

/** Maps whatever the package threw to a NetlinkError naming the operation. */
export function classifyNetlinkError(err: unknown, operation: string): NetlinkError {
  if (err instanceof NetlinkError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const rejected = REJECTED.exec(message);
  if (rejected) return new NetlinkError(rejected[1] as string, operation);
  if (message === 'Timeout has been reached') return new NetlinkError('TIMEOUT', operation);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) {
    return new NetlinkError('ESOCKET', operation, `${code}: ${message}`);
  }
  return new NetlinkError('EUNKNOWN', operation, message);
}

/** True for the codes an idempotent delete treats as "already gone". */
export function isAbsentError(err: unknown): boolean {
  return err instanceof NetlinkError
    && (err.code === 'ESRCH' || err.code === 'ENOENT' || err.code === 'ENODEV' || err.code === 'EADDRNOTAVAIL');
}
