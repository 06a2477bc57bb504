// Runs inside a testbed host namespace (etcd is reachable only there): writes synthetic peer leases, each attached
// to one 24 h etcd lease as upstream does, and prints one JSON line {firstPutAt, sent: {<key>: <epoch ms>}, acked: …}:
// when the first put was sent, and when each put was sent and acknowledged, for the convergence measurement. (A fast
// daemon can program a route before this busy process has run the ack's callback, so convergence counts from the send.)
// Usage: node lease-writer.js <etcd-endpoint> <leases.json: [{key, value}]> [concurrency]
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';

interface LeaseRecord {
  readonly key: string;
  readonly value: string;
}

const now = (): number => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const [endpoint, file, concurrencyArg] = process.argv.slice(2);
  if (endpoint === undefined || file === undefined) throw new Error('usage: lease-writer <etcd-endpoint> <leases.json> [concurrency]');
  const records = JSON.parse(fs.readFileSync(file, 'utf8')) as LeaseRecord[];
  const concurrency = Number(concurrencyArg ?? '16');
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 5000 });
  try {
    const lease = client.lease(86400, { autoKeepAlive: false });
    const id = await lease.grant();
    const acked: Record<string, number> = {};
    const sent: Record<string, number> = {};
    const firstPutAt = now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < records.length) {
        const r = records[next++] as LeaseRecord;
        sent[r.key] = now();
        await client.put(r.key).value(r.value).lease(id).exec();
        acked[r.key] = now();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    process.stdout.write(`${JSON.stringify({ firstPutAt, sent, acked })}\n`);
  } finally {
    client.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`lease-writer: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
