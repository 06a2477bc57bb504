// Runs inside a fresh network namespace (started by vxlan-netlink.test.ts under `ip netns exec`): exercises
// src/netlink/vxlan.ts and neighbours.ts against the kernel and prints what it saw as one JSON line. The parent
// test asserts on it and on iproute2's view of the same namespace.
import { execFileSync } from 'node:child_process';
import { parseIPv4 } from '../../../src/net/ipv4.js';
import { getLinkByName } from '../../../src/netlink/links.js';
import {
  deleteArpIfPresent, deleteFdbIfPresent, ensureArp, ensureFdb, listArp, listFdb,
} from '../../../src/netlink/neighbours.js';
import { sharedRtSocket } from '../../../src/netlink/socket.js';
import { createVxlanLink, readVxlanAttrs, vxlanIncompatibility, type VxlanLinkSpec } from '../../../src/netlink/vxlan.js';

const ip = (s: string): number => parseIPv4(s)!;
const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

async function main(): Promise<void> {
  sh('ip', 'link', 'add', 'under0', 'type', 'veth', 'peer', 'name', 'under1');
  sh('ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'under0');
  sh('ip', 'link', 'set', 'under0', 'up');
  const under = (await getLinkByName('under0'))!;
  const spec: VxlanLinkSpec = { name: 'flannel.7', vni: 7, localIP: '192.0.2.1', underlayIndex: under.index, port: 4789,
    learning: true, gbp: true, mtu: 1400, mac: '0a:00:00:00:00:07' };
  const link = await createVxlanLink(spec);
  const attrs = readVxlanAttrs(link);
  const plain = readVxlanAttrs(under);
  const incompatible = attrs ? vxlanIncompatibility(attrs, spec) : 'no attrs';
  const againCode = await createVxlanLink(spec).then(() => 'created twice', (e: { code?: string }) => e.code ?? String(e));
  sh('ip', 'link', 'set', 'flannel.7', 'up');

  const mac = '0a:00:00:00:00:02';
  await ensureArp(link.index, ip('10.5.2.0'), mac);
  await ensureArp(link.index, ip('10.5.2.0'), mac); // replace: idempotent
  await ensureFdb(link.index, mac, ip('192.0.2.2'));
  await ensureFdb(link.index, mac, ip('192.0.2.2'));
  const arp = await listArp(link.index);
  const fdb = await listFdb(link.index);
  const ipNeigh = sh('ip', 'neigh', 'show', 'dev', 'flannel.7');
  const bridgeFdb = sh('bridge', 'fdb', 'show', 'dev', 'flannel.7');
  const ipLink = sh('ip', '-d', 'link', 'show', 'flannel.7');
  const deletes = [
    await deleteArpIfPresent(link.index, ip('10.5.2.0')), await deleteArpIfPresent(link.index, ip('10.5.2.0')),
    await deleteFdbIfPresent(link.index, mac, ip('192.0.2.2')), await deleteFdbIfPresent(link.index, mac, ip('192.0.2.2')),
  ];
  const after = { arp: await listArp(link.index), fdb: await listFdb(link.index) };
  sharedRtSocket().close();
  process.stdout.write(`${JSON.stringify({ attrs, plain, incompatible, againCode, arp, fdb, ipNeigh, bridgeFdb, ipLink,
    deletes, after, mac: link.mac, mtu: link.mtu })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
