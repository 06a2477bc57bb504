// Runs inside a testbed host namespace (etcd is reachable only there): writes synthetic peer leases, each attached
// to one 24 h etcd lease as upstream does, and prints one JSON line {firstPutAt, sent: {<key>: <epoch ms>}, acked: …}:
// when the first put was sent, and when each put was sent and acknowledged, for the convergence measurement. (A fast
// daemon can program a route before this busy process has run the ack's callback, so convergence counts from the send.)
//
// A burst of hosts joining at once: the puts are spread over `clients` HTTP/2 connections to etcd (each host has
// its own), `inFlight` puts outstanding in all. Each put is one gRPC call coded by hand (./etcd-wire.ts) on its own
// stream: a gRPC client library spent ~0.5 ms of CPU per put, which made this process, not etcd, the limit of the
// burst, and took that CPU from the daemon under test on a small machine.
// Usage: node lease-writer.js <etcd-endpoint> <leases.json: [{key, value}]> [inFlight] [clients]
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { grpcFrame, grpcMessage, leaseGrantId, leaseGrantRequest, putRequest } from './etcd-wire.js';
import { writerSlots } from './writer-plan.js';

interface LeaseRecord {
  readonly key: string;
  readonly value: string;
}

const now = (): number => performance.timeOrigin + performance.now();

/** One unary gRPC call; resolves with the response message once etcd's trailers say OK. */
function unary(session: http2.ClientHttp2Session, method: string, frame: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message: string | undefined;
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) {
        status = String(h['grpc-status']);
        message = h['grpc-message'] === undefined ? undefined : decodeURIComponent(String(h['grpc-message']));
      }
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      const body = grpcMessage(Buffer.concat(chunks));
      if (status !== '0' || body === null) reject(new Error(`${method}: gRPC status ${status ?? 'none'} ${message ?? ''}`.trim()));
      else resolve(body);
    });
    req.end(frame);
  });
}

function connect(endpoint: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(endpoint);
    s.once('connect', () => {
      // A later session error fails the streams open on it, which say so; unheard, it would crash the writer instead.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function main(): Promise<void> {
  const [endpoint, file, inFlightArg, clientsArg] = process.argv.slice(2);
  if (endpoint === undefined || file === undefined) {
    throw new Error('usage: lease-writer <etcd-endpoint> <leases.json> [inFlight] [clients]');
  }
  const records = JSON.parse(fs.readFileSync(file, 'utf8')) as LeaseRecord[];
  const slots = writerSlots(Number(inFlightArg ?? '16'), Number(clientsArg ?? '1'));
  const sessions = await Promise.all(slots.map(() => connect(endpoint)));
  try {
    const id = leaseGrantId(await unary(sessions[0] as http2.ClientHttp2Session, '/etcdserverpb.Lease/LeaseGrant',
      grpcFrame(leaseGrantRequest(86400))));
    if (id === null || id === 0n) throw new Error('etcd granted no lease ID');
    const puts = records.map((r) => ({ key: r.key, frame: grpcFrame(putRequest(r.key, r.value, id)) }));
    const acked: Record<string, number> = {};
    const sent: Record<string, number> = {};
    const firstPutAt = now();
    let next = 0;
    const worker = async (s: http2.ClientHttp2Session): Promise<void> => {
      while (next < puts.length) {
        const p = puts[next++] as (typeof puts)[number];
        sent[p.key] = now();
        await unary(s, '/etcdserverpb.KV/Put', p.frame);
        acked[p.key] = now();
      }
    };
    await Promise.all(slots.flatMap((n, i) => Array.from({ length: n }, () => worker(sessions[i] as http2.ClientHttp2Session))));
    process.stdout.write(`${JSON.stringify({ firstPutAt, sent, acked })}\n`);
  } finally {
    for (const s of sessions) s.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`lease-writer: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
