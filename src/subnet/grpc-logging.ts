// grpc-js (inside etcd3) prints its own warnings to stderr as raw text ("E No connection established", "… rejected
// by server because of excess pings"), which breaks a JSON-lines log. These route them through pino, and give the
// keepalive settings that etcd's default enforcement accepts, so the "excess pings" case does not arise.
import { createRequire } from 'node:module';
import type { Logger } from '../log.js';

/**
 * etcd's server policy by default (--grpc-keepalive-min-time 5s, PermitWithoutStream false): a ping sooner than
 * 5 s after the last one, or any ping on a connection with no open stream, is a strike; after two strikes etcd
 * closes the connection with "too_many_pings". So: ping every 10 s, and only while a call (a watch stream) is
 * open; that still finds a frozen member under an idle watch.
 */
export const ETCD_KEEPALIVE = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.keepalive_permit_without_calls': 0,
} as const;

/** etcd's default enforcement, for checking ETCD_KEEPALIVE against it (tests). */
export const ETCD_DEFAULT_POLICY = { minTimeMs: 5000, permitWithoutStream: false } as const;

type Level = 'warn' | 'debug' | 'trace';

/** Pure: a grpc-js logger call as one pino record (level, message); grpc-js puts a severity letter nowhere here. */
export function grpcRecord(severity: 'error' | 'info' | 'debug', args: readonly unknown[]): { level: Level; msg: string } {
  const text = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  const msg = `grpc: ${text.replace(/\s*\n\s*/g, ' ').trim()}`;
  // grpc-js's "errors" are connection troubles it retries itself: a warning, not a failure of the daemon.
  return { level: severity === 'error' ? 'warn' : severity === 'info' ? 'debug' : 'trace', msg };
}

interface GrpcLogging {
  setLogger(l: { error(...a: unknown[]): void; info(...a: unknown[]): void; debug(...a: unknown[]): void }): void;
}

/** Defined in the bundle only (scripts/bundle.js). */
declare const __tsfBundled: unknown;

/** The grpc-js that etcd3 itself loads (resolved from etcd3, so it is the same instance). */
function etcd3Grpc(): GrpcLogging {
  // The bundle holds one grpc-js, etcd3's, under its plain name; resolving from etcd3 would load a second copy.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (typeof __tsfBundled !== 'undefined') return require('@grpc/grpc-js') as GrpcLogging;
  const fromEtcd3 = createRequire(require.resolve('etcd3'));
  return fromEtcd3('@grpc/grpc-js') as GrpcLogging;
}

/** Sends grpc-js's log lines to `log` (component grpc). Idempotent: the last logger given wins. */
export function routeGrpcLogging(log: Logger): void {
  const child = log.child({ component: 'grpc' });
  const emit = (severity: 'error' | 'info' | 'debug') => (...args: unknown[]): void => {
    const r = grpcRecord(severity, args);
    child[r.level](r.msg);
  };
  etcd3Grpc().setLogger({ error: emit('error'), info: emit('info'), debug: emit('debug') });
}
