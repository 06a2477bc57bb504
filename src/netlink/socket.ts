// The one rtnetlink request socket every backend shares, and the request primitive every file in src/netlink/
// goes through: a bound on requests in flight, a timeout on each, typed errors, and a fresh socket after a failure.
// The patched package (patches/netlink+0.3.0.patch) reports a receive-buffer overflow as an 'error' event and closes
// the socket; unpatched it aborts the process, which is why the patch is applied on every install.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { log as rootLog, type Logger } from '../log.js';
import { RequestBatcher, type BatchAnswer, type BatchedRequest } from './batch.js';
import { classifyNetlinkError, NetlinkError } from './errors.js';
import { ExclusiveGate, Limiter } from './limiter.js';

export interface RtSocketOptions {
  /** Requests in flight at once (default 64). */
  readonly maxInFlight?: number;
  /** Per-request timeout in ms (default 5000). */
  readonly timeoutMs?: number;
  /** SO_RCVBUF (default 4 MiB; the kernel caps it at net.core.rmem_max). */
  readonly recvBufferSize?: number;
  /** SO_SNDBUF (default 1 MiB). */
  readonly sendBufferSize?: number;
  readonly log?: Logger;
}

/** What a request callback receives: pass it on to the package's call so the timeout applies. */
export interface CallOptions {
  readonly timeout: number;
}

/** Told of every finished request, e.g. to count them in /metrics; `kind` is the verb and object ("replace route"). */
export type NetlinkObserver = (kind: string, ok: boolean) => void;

let observer: NetlinkObserver | null = null;

export function setNetlinkObserver(fn: NetlinkObserver | null): void {
  observer = fn;
}

/** The first two words of an operation name: bounded label values, whatever addresses follow. */
function operationKind(operation: string): string {
  return operation.split(' ', 2).join(' ');
}

export type NetlinkCall<T> = (nl: RtNetlinkSocket, opts: CallOptions) => Promise<T>;

export class RtSocket {
  private sock: RtNetlinkSocket | null = null;
  private batcher: RequestBatcher | null = null;
  private readonly limiter: Limiter;
  /** Dumps (multipart replies) must not interleave with any other reply on the socket. */
  private readonly dumpGate = new ExclusiveGate();
  private readonly timeoutMs: number;
  private readonly recvBufferSize: number;
  private readonly sendBufferSize: number;
  private readonly log: Logger;
  /** Rejecters of the requests sent on the current socket: a socket failure settles them at once. */
  private readonly pending = new Set<(err: NetlinkError) => void>();
  private failures = 0;
  private datagrams = 0;
  private batchedRequests = 0;
  private closed = false;

  constructor(opts: RtSocketOptions = {}) {
    this.limiter = new Limiter(opts.maxInFlight ?? 64);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.recvBufferSize = opts.recvBufferSize ?? 4 << 20;
    this.sendBufferSize = opts.sendBufferSize ?? 1 << 20;
    this.log = opts.log ?? rootLog.child({ component: 'netlink' });
  }

  /** How many times the socket failed and was replaced. */
  get socketFailures(): number {
    return this.failures;
  }

  /** Datagrams the batcher sent, and the requests they carried (see batched()). */
  get batchStats(): { readonly datagrams: number; readonly requests: number } {
    return { datagrams: this.datagrams, requests: this.batchedRequests };
  }

  /**
   * Runs one netlink call under the limiter and timeout. `operation` names it in errors, e.g.
   * `replace route 10.5.2.0/24`. Rejects only with NetlinkError.
   */
  request<T>(operation: string, call: NetlinkCall<T>): Promise<T> {
    return this.observed(operation, this.dumpGate.run(false, () => this.limiter.run(() => this.send(operation, call))));
  }

  /**
   * Like request(), for one message that the kernel answers with an ACK or (a query) one reply: it shares a datagram
   * and an ACK with the other requests made in the same turn (./batch.ts). Resolves with the reply, null without.
   */
  batched(operation: string, req: BatchedRequest): Promise<BatchAnswer> {
    return this.observed(operation, this.dumpGate.run(false, () => this.limiter.run(() =>
      this.send(operation, () => this.batcherOf().add(req)))));
  }

  /** Like request(), for dumps (list links/addresses/routes/neighbours): each has the socket to itself. */
  dump<T>(operation: string, call: NetlinkCall<T>): Promise<T> {
    return this.observed(operation, this.dumpGate.run(true, () => this.send(operation, call)));
  }

  private observed<T>(operation: string, done: Promise<T>): Promise<T> {
    if (observer) {
      const report = observer;
      done.then(() => report(operationKind(operation), true), () => report(operationKind(operation), false));
    }
    return done;
  }

  /** Closes the socket; later requests fail with ESOCKET. */
  close(): void {
    this.closed = true;
    this.drop(new NetlinkError('ESOCKET', 'netlink socket', 'closed'));
  }

  private send<T>(operation: string, call: NetlinkCall<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let nl: RtNetlinkSocket;
      try {
        nl = this.socket();
      } catch (err) {
        reject(classifyNetlinkError(err, operation));
        return;
      }
      const fail = (err: NetlinkError): void => reject(new NetlinkError(err.code, operation, err.message));
      this.pending.add(fail);
      // After a socket failure `fail` has already settled the promise; the package's own late rejection
      // (its timeout) lands here harmlessly instead of becoming an unhandled rejection.
      Promise.resolve()
        .then(() => call(nl, { timeout: this.timeoutMs }))
        .then(resolve, (err: unknown) => reject(classifyNetlinkError(err, operation)))
        .finally(() => this.pending.delete(fail));
    });
  }

  private batcherOf(): RequestBatcher {
    const nl = this.socket();
    this.batcher ??= new RequestBatcher(nl, this.timeoutMs, (n) => {
      this.datagrams++;
      this.batchedRequests += n;
    });
    return this.batcher;
  }

  private socket(): RtNetlinkSocket {
    if (this.closed) throw new NetlinkError('ESOCKET', 'netlink socket', 'closed');
    if (this.sock) return this.sock;
    const sock = createRtNetlink({ recvBufferSize: this.recvBufferSize, sendBufferSize: this.sendBufferSize });
    // Without a listener an 'error' event would throw; with it, the socket is replaced on the next request.
    sock.socket.on('error', (err) => {
      this.failures++;
      this.log.warn({ err: err.message, code: err.code, inFlight: this.pending.size }, 'netlink socket failed; replacing it');
      if (this.sock === sock) this.drop(new NetlinkError('ESOCKET', 'netlink socket', `${err.code ?? ''} ${err.message}`.trim()));
    });
    sock.socket.on('close', () => {
      if (this.sock === sock) this.drop(new NetlinkError('ESOCKET', 'netlink socket', 'closed'));
    });
    this.sock = sock;
    return sock;
  }

  private drop(reason: NetlinkError): void {
    const sock = this.sock;
    this.sock = null;
    this.batcher?.close(reason);
    this.batcher = null;
    for (const fail of [...this.pending]) fail(reason);
    this.pending.clear();
    if (sock) {
      try {
        sock.socket.close();
      } catch {
        // Already closed by the native side after a poll error.
      }
    }
  }
}

let shared: RtSocket | null = null;

/** The process-wide request socket (created on first use). */
export function sharedRtSocket(): RtSocket {
  shared ??= new RtSocket();
  return shared;
}
