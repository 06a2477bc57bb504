// The etcd v3 client as flanneld configures its own (flannel-compat §1 "Client settings"): several endpoints with
// failover, TLS when a CA file or both a key and a certificate are given (server-only TLS needs just the CA), basic
// auth, and deadlines on every unary call.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  BrokenCircuitError, ConsecutiveBreaker, type IBackoff, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry,
} from 'cockatiel';
import { Etcd3, GRPCUnavailableError, GRPCDeadlineExceededError, EtcdWatchStreamEnded, isRecoverableError } from 'etcd3';
import type { Logger } from '../log.js';
import { ETCD_KEEPALIVE, routeGrpcLogging } from './grpc-logging.js';

export interface EtcdClientOptions {
  /** URLs such as `http://127.0.0.1:2379` (already split on `,`). */
  readonly endpoints: readonly string[];
  readonly keyfile?: string;
  readonly certfile?: string;
  readonly cafile?: string;
  readonly username?: string;
  readonly password?: string;
  /** Deadline of each unary call (default 5 s). Watches are streams and have none. */
  readonly callTimeoutMs?: number;
}

export class EtcdClientConfigError extends Error {
  override readonly name = 'EtcdClientConfigError';
}

const DEFAULT_CALL_TIMEOUT_MS = 5000;

function readFileFor(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new EtcdClientConfigError(`cannot read ${flag} ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}

function normaliseEndpoint(endpoint: string, secure: boolean): string {
  const trimmed = endpoint.trim();
  if (/^https?:\/\//i.test(trimmed)) return trimmed.replace(/\/+$/, '');
  // Upstream requires a scheme; a bare host:port is taken to mean the one the TLS flags imply.
  return `${secure ? 'https' : 'http'}://${trimmed.replace(/\/+$/, '')}`;
}

/**
 * Builds the client. Throws EtcdClientConfigError (one line naming the flag) for unreadable TLS files or
 * endpoints that mix http and https. The password is handed to etcd3 only; it is never logged.
 */
export function createEtcdClient(o: EtcdClientOptions, log: Logger): Etcd3 {
  const clientCert = Boolean(o.keyfile && o.certfile);
  const secure = clientCert || Boolean(o.cafile);
  const hosts = o.endpoints.filter((e) => e.trim() !== '').map((e) => normaliseEndpoint(e, secure));
  if (hosts.length === 0) throw new EtcdClientConfigError('--etcd-endpoints is empty; give at least one URL, e.g. http://127.0.0.1:2379');
  const httpsCount = hosts.filter((h) => h.toLowerCase().startsWith('https://')).length;
  if (httpsCount !== 0 && httpsCount !== hosts.length) {
    throw new EtcdClientConfigError(`--etcd-endpoints mixes http:// and https:// (${hosts.join(',')}); use one scheme for all`);
  }
  let credentials: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } | undefined;
  if (!clientCert && (o.keyfile || o.certfile)) {
    log.warn(`only one of --etcd-keyfile and --etcd-certfile is set; a client certificate needs both, so none is sent${secure ? '' : ' and TLS is off'}`);
  }
  if (secure) {
    // Without --etcd-cafile the system roots are used, as Go's tls.Config does with a nil RootCAs.
    const rootCertificate = o.cafile ? readFileFor('--etcd-cafile', o.cafile) : (undefined as unknown as Buffer);
    credentials = { rootCertificate, ...(clientCert ? readClientPair(o.certfile as string, o.keyfile as string) : {}) };
    if (httpsCount === 0) log.warn({ endpoints: hosts }, 'TLS files given but the etcd endpoints use http://; use https:// endpoints for TLS');
    else log.info({ ca: o.cafile ? 'file' : 'system', clientCertificate: clientCert }, 'connecting to etcd with https');
  } else {
    log.warn('connecting to etcd with http. This is insecure');
  }
  const timeout = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  routeGrpcLogging(log);
  const client = new Etcd3({
    hosts,
    ...(credentials ? { credentials } : {}),
    ...(o.username ? { auth: { username: o.username, password: o.password ?? '' } } : {}),
    dialTimeout: timeout,
    // Pings find a member that stopped answering (frozen, partitioned) even on an idle watch stream, within what
    // etcd's default enforcement permits (./grpc-logging.ts).
    grpcOptions: { ...ETCD_KEEPALIVE },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      // One failure on a host sends the next attempt to another member; a host that failed three times in a row
      // is skipped for 2 s, then tried again.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 2000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(2, hosts.length) }),
      // Watch streams reconnect 100 ms → 5 s (flannel PR #2172), not etcd3's default of up to 30 s.
      // (etcd3 types this as a backoff but uses it as a factory, as its own default does.)
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 5000 }) as unknown as IBackoff<unknown>,
    },
  });
  log.info({ endpoints: hosts, tls: secure, auth: Boolean(o.username) }, 'etcd client created');
  return client;
}

/** Reads and checks the client pair up front: gRPC would only fail later, with a message naming neither flag. */
function readClientPair(certfile: string, keyfile: string): { privateKey: Buffer; certChain: Buffer } {
  const privateKey = readFileFor('--etcd-keyfile', keyfile);
  const certChain = readFileFor('--etcd-certfile', certfile);
  let matches: boolean;
  try {
    matches = new crypto.X509Certificate(certChain).checkPrivateKey(crypto.createPrivateKey(privateKey));
  } catch (err) {
    throw new EtcdClientConfigError(`cannot use --etcd-certfile ${JSON.stringify(certfile)} with --etcd-keyfile ${JSON.stringify(keyfile)}: `
      + `${(err as Error).message.split('\n')[0]}; give a PEM certificate and its PEM private key`);
  }
  if (!matches) {
    throw new EtcdClientConfigError(`--etcd-certfile ${JSON.stringify(certfile)} and --etcd-keyfile ${JSON.stringify(keyfile)} do not match: `
      + 'the certificate is for another key; give the key the certificate was issued for');
  }
  return { privateKey, certChain };
}

/**
 * The etcd operations whose failures are reported to the observer. Fixed names, never keys: they become the
 * `operation` label of `flannel_etcd_errors_total`, which must stay bounded.
 */
export type EtcdOperation =
  | 'get_config' // reading <prefix>/config
  | 'acquire_lease' // listing and creating (or renewing) a lease at start or after a loss
  | 'renew_lease' // the periodic renewal
  | 'check_lease' // the periodic read of our own key
  | 'watch_own_lease' // the watch on our own key broke
  | 'list_leases' // the watcher's snapshot (first list, or a re-list after a compaction)
  | 'watch_leases'; // the watcher's watch on all leases broke

/** Told of every failed etcd operation, e.g. to count them in /metrics (the daemon wires it; subnet/ knows no ops/). */
export type EtcdErrorObserver = (operation: EtcdOperation) => void;

let errorObserver: EtcdErrorObserver | null = null;

export function setEtcdErrorObserver(fn: EtcdErrorObserver | null): void {
  errorObserver = fn;
}

/** Called where a failure is handled (and retried): a failing observer never changes that handling. */
export function reportEtcdError(operation: EtcdOperation): void {
  try {
    errorObserver?.(operation);
  } catch {
    // counting is best effort
  }
}

/**
 * True for every way etcd3 says "no etcd member answered": gRPC UNAVAILABLE, a deadline that ran out, an ended watch
 * stream, and cockatiel's BrokenCircuitError (the breaker refusing calls after failures), which is not a gRPC error.
 */
export function isEtcdUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err instanceof GRPCUnavailableError
    || err instanceof GRPCDeadlineExceededError
    || err instanceof EtcdWatchStreamEnded
    || err instanceof BrokenCircuitError
    || isBrokenCircuitError(err)
    || err.name === 'BrokenCircuitError'
    || err.name === 'EtcdV2UnavailableError';
}

/** A one-line description of an etcd error for logs (no stack). */
export function describeEtcdError(err: unknown): string {
  if (isEtcdUnavailable(err)) return `etcd unreachable (${(err as Error).message.split('\n')[0]})`;
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
