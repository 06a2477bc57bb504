// A small client for etcd's v2 keys API (`/v2/keys/...`, plain HTTP/JSON), as flannel 0.7 used it: the settings of
// the v3 client (endpoints with failover, TLS only with both key and certificate, basic auth, 5 s deadlines), keep-alive
// connections, and etcd's JSON errors turned into one-line messages. node:http(s) because undici is not importable.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Logger } from '../../log.js';
import { EtcdClientConfigError, type EtcdClientOptions } from '../etcd-client.js';

export interface EtcdV2ClientOptions extends EtcdClientOptions {
  /** How long one watch long poll may last before it is asked again from the same index (default 60 s). */
  readonly watchPollMs?: number;
}

/** One node of a v2 answer (`node`, `prevNode`, or an element of `nodes`). */
export interface V2Node {
  readonly key: string;
  readonly value?: string;
  readonly dir?: boolean;
  readonly expiration?: string;
  readonly ttl?: number;
  readonly modifiedIndex: number;
  readonly createdIndex: number;
  readonly nodes?: readonly V2Node[];
}

export interface V2Response {
  readonly action: string;
  readonly node: V2Node;
  readonly prevNode?: V2Node;
  /** X-Etcd-Index: the store's index when the answer was made. */
  readonly etcdIndex: number;
}

/** etcd v2 error codes flannel reacts to. */
export const V2_KEY_NOT_FOUND = 100;
export const V2_TEST_FAILED = 101;
export const V2_NODE_EXIST = 105;
export const V2_EVENT_INDEX_CLEARED = 401;

/** An error etcd answered with (its JSON error body). */
export class EtcdV2Error extends Error {
  override readonly name = 'EtcdV2Error';
  constructor(readonly code: number, readonly etcdMessage: string, readonly cause_: string, readonly index: number) {
    super(describeV2Code(code, etcdMessage, cause_));
  }
}

/** No member answered (refused, timed out, reset); what isEtcdUnavailable() recognises by name. */
export class EtcdV2UnavailableError extends Error {
  override readonly name = 'EtcdV2UnavailableError';
}

function describeV2Code(code: number, message: string, cause: string): string {
  const where = cause ? ` (${cause})` : '';
  switch (code) {
    case V2_KEY_NOT_FOUND: return `etcd v2: key not found${where}`;
    case V2_TEST_FAILED: return `etcd v2: compare failed${where}: the key changed meanwhile`;
    case V2_NODE_EXIST: return `etcd v2: key already exists${where}`;
    case V2_EVENT_INDEX_CLEARED: return `etcd v2: event index cleared${where}: more than 1000 changes since; re-list`;
    case 404: return message;
    case 110: return `etcd v2: permission denied${where}: check --etcd-username/--etcd-password and the user's role`;
    case 300: case 301: case 302: return `etcd v2: cluster not ready (${message})${where}`;
    default: return `etcd v2 error ${code}: ${message}${where}`;
  }
}

export interface V2SetOptions {
  readonly ttlSeconds?: number;
  readonly prevExist?: boolean;
  readonly prevValue?: string;
  readonly prevIndex?: number;
}

export interface V2WaitHandle {
  /** Resolves with the next event at or after `waitIndex`, or null when etcd ended the poll without one. */
  readonly result: Promise<V2Response | null>;
  abort(): void;
}

const DEFAULT_CALL_TIMEOUT_MS = 5000;
const DEFAULT_WATCH_POLL_MS = 60_000;

/** One line for a failed connection; OpenSSL's multi-part messages become their reason plus the flags to check. */
function describeTransportError(err: NodeJS.ErrnoException & { reason?: string }): string {
  if (err.code?.startsWith('ERR_SSL') || err.code?.startsWith('ERR_TLS') || /SSL|certificate/i.test(err.message)) {
    const why = err.reason ?? err.message.split('\n')[0];
    return `TLS handshake failed (${why}): check --etcd-cafile, --etcd-certfile and --etcd-keyfile`;
  }
  return `${err.code ? `${err.code} ` : ''}${err.message.split('\n')[0]}`;
}

function readFileFor(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new EtcdClientConfigError(`cannot read ${flag} ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}

/** `/a/b c` → `/v2/keys/a/b%20c`: each segment escaped, slashes kept. */
export function keyPath(key: string): string {
  return `/v2/keys${key.split('/').map(encodeURIComponent).join('/')}`;
}

export class EtcdV2Client {
  private readonly endpoints: URL[];
  private readonly agent: http.Agent;
  private readonly auth: string | null;
  private readonly timeoutMs: number;
  /** The endpoint that answered last; tried first next time. */
  private current = 0;

  private readonly watchPollMs: number;

  constructor(o: EtcdV2ClientOptions, log: Logger) {
    const secure = Boolean(o.keyfile && o.certfile);
    this.endpoints = o.endpoints.filter((e) => e.trim() !== '').map((e) => {
      const t = e.trim().replace(/\/+$/, '');
      return new URL(/^https?:\/\//i.test(t) ? t : `${secure ? 'https' : 'http'}://${t}`);
    });
    if (this.endpoints.length === 0) {
      throw new EtcdClientConfigError('--etcd-endpoints is empty; give at least one URL, e.g. http://127.0.0.1:2379');
    }
    const anyHttps = this.endpoints.some((u) => u.protocol === 'https:');
    if (anyHttps && this.endpoints.some((u) => u.protocol !== 'https:')) {
      throw new EtcdClientConfigError(`--etcd-endpoints mixes http:// and https:// (${o.endpoints.join(',')}); use one scheme for all`);
    }
    this.agent = anyHttps
      ? new https.Agent({ keepAlive: true, maxSockets: 16,
        ...(secure ? { key: readFileFor('--etcd-keyfile', o.keyfile as string), cert: readFileFor('--etcd-certfile', o.certfile as string) } : {}),
        ...(o.cafile ? { ca: readFileFor('--etcd-cafile', o.cafile) } : {}) })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.auth = o.username ? `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}` : null;
    this.timeoutMs = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.watchPollMs = o.watchPollMs ?? DEFAULT_WATCH_POLL_MS;
    log.debug({ endpoints: this.endpoints.map((u) => u.origin), tls: anyHttps, auth: Boolean(o.username) }, 'etcd v2 client created');
  }

  close(): void {
    this.agent.destroy();
  }

  /** GET with quorum (as flannel 0.7 reads). Throws EtcdV2Error 100 when the key is absent. */
  async get(key: string, o: { recursive?: boolean } = {}): Promise<V2Response> {
    const q = new URLSearchParams({ quorum: 'true', ...(o.recursive ? { recursive: 'true' } : {}) });
    return this.call('GET', `${keyPath(key)}?${q}`, null);
  }

  /** GET that answers null for an absent key instead of throwing. */
  async getOrNull(key: string, o: { recursive?: boolean } = {}): Promise<V2Response | null> {
    try {
      return await this.get(key, o);
    } catch (err) {
      if (err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND) return null;
      throw err;
    }
  }

  async set(key: string, value: string, o: V2SetOptions = {}): Promise<V2Response> {
    const body = new URLSearchParams({ value });
    if (o.ttlSeconds !== undefined) body.set('ttl', String(o.ttlSeconds));
    if (o.prevExist !== undefined) body.set('prevExist', String(o.prevExist));
    if (o.prevValue !== undefined) body.set('prevValue', o.prevValue);
    if (o.prevIndex !== undefined) body.set('prevIndex', String(o.prevIndex));
    return this.call('PUT', keyPath(key), body.toString());
  }

  async delete(key: string): Promise<V2Response> {
    return this.call('DELETE', keyPath(key), null);
  }

  /**
   * A long poll for the next change at or after `waitIndex`. etcd sends the headers at once (`onAccepted` runs then:
   * the watch is registered), so they get the call deadline; the body may take hours on a quiet network, so the poll
   * instead ends without an event (null) after watchPollMs and is asked again. A member that froze or vanished is
   * thus noticed within one poll plus one deadline, as gRPC keepalive pings do for v3.
   */
  wait(key: string, waitIndex: number, o: { recursive?: boolean; onAccepted?: () => void } = {}): V2WaitHandle {
    const q = new URLSearchParams({ wait: 'true', waitIndex: String(waitIndex), ...(o.recursive ? { recursive: 'true' } : {}) });
    const ac = new AbortController();
    const result = this.call('GET', `${keyPath(key)}?${q}`, null, { signal: ac.signal, noDeadline: true, onAccepted: o.onAccepted, emptyOk: true });
    return { result: result as Promise<V2Response | null>, abort: () => ac.abort() };
  }

  private async call(method: string, pathAndQuery: string, body: string | null,
    o: { signal?: AbortSignal; noDeadline?: boolean; onAccepted?: (() => void) | undefined; emptyOk?: boolean } = {}): Promise<V2Response> {
    let lastErr: Error | null = null;
    for (let i = 0; i < this.endpoints.length; i++) {
      const idx = (this.current + i) % this.endpoints.length;
      try {
        const res = await this.once(this.endpoints[idx]!, method, pathAndQuery, body, o);
        this.current = idx;
        return res as V2Response;
      } catch (err) {
        if (!(err instanceof EtcdV2UnavailableError) || o.signal?.aborted) throw err;
        lastErr = err;
      }
    }
    throw lastErr ?? new EtcdV2UnavailableError('no etcd endpoint');
  }

  private once(base: URL, method: string, pathAndQuery: string, body: string | null,
    o: { signal?: AbortSignal; noDeadline?: boolean; onAccepted?: (() => void) | undefined; emptyOk?: boolean }): Promise<V2Response | null> {
    const mod = base.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== null) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (this.auth) headers.authorization = this.auth;
    return new Promise((resolve, reject) => {
      const req = mod.request({ protocol: base.protocol, hostname: base.hostname, port: base.port, method,
        path: `${base.pathname.replace(/\/+$/, '')}${pathAndQuery}`, headers, agent: this.agent,
        ...(o.signal ? { signal: o.signal } : {}) }, (res) => {
        o.onAccepted?.();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new EtcdV2UnavailableError(`etcd v2 at ${base.origin}: ${err.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const index = Number(res.headers['x-etcd-index'] ?? 0);
          try {
            resolve(this.decode(base, res.statusCode ?? 0, text, index, o.emptyOk === true));
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      const timedOut = (): void => {
        req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      };
      if (!o.noDeadline) req.setTimeout(this.timeoutMs, timedOut);
      else {
        const headerTimer = setTimeout(timedOut, this.timeoutMs);
        const pollTimer = setTimeout(() => {
          resolve(null);
          req.destroy();
        }, this.watchPollMs);
        const clear = (): void => {
          clearTimeout(headerTimer);
          clearTimeout(pollTimer);
        };
        req.once('response', () => clearTimeout(headerTimer));
        req.once('close', clear);
      }
      req.on('error', (err: NodeJS.ErrnoException & { reason?: string }) => {
        if (o.signal?.aborted) reject(new EtcdV2UnavailableError('watch stopped'));
        else reject(new EtcdV2UnavailableError(`etcd v2 at ${base.origin}: ${describeTransportError(err)}`));
      });
      req.end(body ?? undefined);
    });
  }

  private decode(base: URL, status: number, text: string, index: number, emptyOk: boolean): V2Response | null {
    if (text.trim() === '' && emptyOk && status === 200) return null;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      if (status === 404) {
        throw new EtcdV2Error(404, `etcd at ${base.origin} does not serve the v2 API (start etcd with --enable-v2=true, or use --etcd-api=v3)`, '', index);
      }
      if (status === 401) throw new EtcdV2Error(110, 'unauthorized', '', index);
      throw new EtcdV2Error(status, `HTTP ${status} from ${base.origin}: ${JSON.stringify(text.slice(0, 80))}`, '', index);
    }
    if (typeof parsed.errorCode === 'number') {
      throw new EtcdV2Error(parsed.errorCode, String(parsed.message ?? ''), String(parsed.cause ?? ''), Number(parsed.index ?? index));
    }
    if (status >= 300 || typeof parsed.node !== 'object' || parsed.node === null) {
      throw new EtcdV2Error(status, `unexpected answer (HTTP ${status}) from ${base.origin}: ${JSON.stringify(text.slice(0, 80))}`, '', index);
    }
    return { action: String(parsed.action ?? ''), node: parsed.node as V2Node,
      ...(parsed.prevNode ? { prevNode: parsed.prevNode as V2Node } : {}), etcdIndex: index };
  }
}
