// Runs inside a testbed host namespace (etcd is reachable only there). One round of churn among synthetic host-gw
// peers: each of `count` peers flips with probability 1/2 (a present lease is deleted, an absent one written with a
// 24 h etcd lease, as upstream writes them). Prints the number of puts and deletes as one JSON line.
// Usage: node churn-agent.js <etcd-endpoint> <prefix> <count> [host-gw|vxlan]
import { Etcd3 } from 'etcd3';

/** Peer i: subnet 10.8.i.0/24 behind 192.0.2.(30 + i) — inside the test's Network, on the testbed's underlay. */
export function peerKey(prefix: string, i: number): string {
  return `${prefix}/subnets/10.8.${i}.0-24`;
}

/** Peer i's VTEP MAC for the vxlan backend: locally administered, unique per peer. */
export function peerMac(i: number): string {
  return `02:c0:00:00:00:${i.toString(16).padStart(2, '0')}`;
}

export function peerPublicIP(i: number): string {
  return `192.0.2.${30 + i}`;
}

export function peerValue(i: number, backend: string): string {
  return backend === 'vxlan'
    ? JSON.stringify({ PublicIP: peerPublicIP(i), PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: peerMac(i) } })
    : JSON.stringify({ PublicIP: peerPublicIP(i), PublicIPv6: null, BackendType: 'host-gw' });
}

async function main(): Promise<void> {
  const [endpoint, prefix, countArg, backend = 'host-gw'] = process.argv.slice(2);
  if (endpoint === undefined || prefix === undefined || countArg === undefined) throw new Error('usage: churn-agent <endpoint> <prefix> <count>');
  const count = Number(countArg);
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 5000 });
  try {
    const present = new Set(Object.keys(await client.getAll().prefix(`${prefix}/subnets/10.8.`).strings()));
    const lease = client.lease(86400, { autoKeepAlive: false });
    const id = await lease.grant();
    let puts = 0;
    let deletes = 0;
    const work = Array.from({ length: count }, (_, i) => i).filter(() => Math.random() < 0.5);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) {
        const i = work[next++] as number;
        const key = peerKey(prefix, i);
        if (present.has(key)) {
          await client.delete().key(key).exec();
          deletes++;
        } else {
          await client.put(key).value(peerValue(i, backend)).lease(id).exec();
          puts++;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    process.stdout.write(`${JSON.stringify({ puts, deletes })}\n`);
  } finally {
    client.close();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`churn-agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
