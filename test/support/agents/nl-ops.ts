// Runs netlink operations through src/netlink inside whatever namespace it is started in
// (`ip netns exec <ns> node nl-ops.js '<json ops>'`) and prints one JSON array of results on stdout.
// The `netlink` package cannot enter a namespace itself, so tests drive it through this script.
import { chooseExternalInterface } from '../../../src/netlink/external-iface.js';
import { formatCidr, formatIPv4, parseCidr, parseIPv4, type Ipv4Net } from '../../../src/net/ipv4.js';
import { deleteAddressIfPresent, ensureAddress, listAddresses } from '../../../src/netlink/addresses.js';
import { NetlinkError } from '../../../src/netlink/errors.js';
import { deleteLinkIfPresent, getLinkByIndex, getLinkByName, listLinks, setLinkMac, setLinkMtu, setLinkUp } from '../../../src/netlink/links.js';
import { deleteRouteIfPresent, getRoute, listRoutes, replaceRoute, type KernelRoute, type RouteSpec } from '../../../src/netlink/routes.js';
import { RtSocket, sharedRtSocket } from '../../../src/netlink/socket.js';

type Op = Record<string, unknown> & { op: string };

function need<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`helper: ${what}`);
  return value;
}

async function indexOf(name: unknown): Promise<number> {
  return need(await getLinkByName(String(name)), `no link ${String(name)}`).index;
}

function cidr(text: unknown): Ipv4Net {
  return need(parseCidr(String(text)), `bad CIDR ${String(text)}`);
}

async function routeSpec(op: Op): Promise<RouteSpec> {
  return {
    dst: cidr(op.dst),
    ...(op.gateway !== undefined ? { gateway: need(parseIPv4(String(op.gateway)), 'bad gateway') } : {}),
    ...(op.dev !== undefined ? { oif: await indexOf(op.dev) } : {}),
    ...(op.oif !== undefined ? { oif: Number(op.oif) } : {}),
    ...(op.onlink !== undefined ? { onlink: Boolean(op.onlink) } : {}),
    ...(op.protocol !== undefined ? { protocol: Number(op.protocol) } : {}),
    ...(op.table !== undefined ? { table: Number(op.table) } : {}),
  };
}

function showRoute(r: KernelRoute): Record<string, unknown> {
  return {
    dst: formatCidr(r.dst), gateway: r.gateway === null ? null : formatIPv4(r.gateway), oif: r.oif, table: r.table,
    protocol: r.protocol, scope: r.scope, type: r.type, onlink: r.onlink, prefsrc: r.prefsrc === null ? null : formatIPv4(r.prefsrc),
  };
}

/** Fires `count` route replaces at once on a socket with a tiny receive buffer: the ACKs overflow it. */
async function burst(op: Op): Promise<unknown> {
  const count = Number(op.count);
  const socket = new RtSocket({ maxInFlight: count, recvBufferSize: Number(op.recvBufferSize), timeoutMs: 3000 });
  const oif = await indexOf(op.dev);
  const gateway = need(parseIPv4(String(op.gateway)), 'bad gateway');
  const base = cidr(op.base).ip;
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, i) =>
    replaceRoute({ dst: { ip: (base + i * 256) >>> 0, prefixLen: 24 }, gateway, oif }, socket)));
  const codes: Record<string, number> = {};
  for (const o of outcomes) {
    const code = o.status === 'fulfilled' ? 'ok' : o.reason instanceof NetlinkError ? o.reason.code : 'other';
    codes[code] = (codes[code] ?? 0) + 1;
  }
  // The same RtSocket must work again: it replaces its failed socket on the next request.
  const after = (await listRoutes({ oif }, socket)).length;
  return { codes, socketFailures: socket.socketFailures, routesAfter: after };
}

/**
 * Fires every item of `op.items` in the same turn on a fresh socket (route replaces, deletes and lookups, in order):
 * each item's outcome ('ok', a lookup's gateway, or the error code) and how many datagrams carried them.
 */
async function batch(op: Op): Promise<unknown> {
  const items = op.items as Op[];
  const socket = new RtSocket({ timeoutMs: 5000 });
  const specs = await Promise.all(items.map((item) => (item.op === 'lookup' ? null : routeSpec(item))));
  const outcomes = await Promise.allSettled(items.map((item, i) => {
    if (item.op === 'lookup') return getRoute(need(parseIPv4(String(item.dst)), 'bad dst'), socket).then((r) => showRoute(r));
    const spec = specs[i] as RouteSpec;
    return item.op === 'delete' ? deleteRouteIfPresent(spec, socket) : replaceRoute(spec, socket).then(() => 'ok');
  }));
  const results = outcomes.map((o) => (o.status === 'fulfilled' ? o.value
    : o.reason instanceof NetlinkError ? o.reason.code : `other: ${String(o.reason)}`));
  const stats = socket.batchStats;
  socket.close();
  return { results, ...stats };
}

async function run(op: Op): Promise<unknown> {
  switch (op.op) {
    case 'getLinkByName': {
      const l = await getLinkByName(String(op.name));
      return l && { index: l.index, name: l.name, mtu: l.mtu, up: l.up, mac: l.mac, kind: l.kind };
    }
    case 'getLinkByIndex': {
      const l = await getLinkByIndex(Number(op.index));
      return l && { index: l.index, name: l.name };
    }
    case 'listLinks':
      return (await listLinks()).map((l) => l.name);
    case 'setLinkUp':
      return setLinkUp(await indexOf(op.name));
    case 'setLinkMtu':
      return setLinkMtu(await indexOf(op.name), Number(op.mtu));
    case 'setLinkMac':
      return setLinkMac(await indexOf(op.name), String(op.mac));
    case 'deleteLink':
      return deleteLinkIfPresent(Number(op.index));
    case 'ensureAddress': {
      const [ip, len] = String(op.cidr).split('/');
      return ensureAddress(await indexOf(op.name), { ip: need(parseIPv4(ip ?? ''), 'bad ip'), prefixLen: Number(len) });
    }
    case 'deleteAddress': {
      const [ip, len] = String(op.cidr).split('/');
      return deleteAddressIfPresent(await indexOf(op.name), { ip: need(parseIPv4(ip ?? ''), 'bad ip'), prefixLen: Number(len) });
    }
    case 'listAddresses': {
      const index = op.name === undefined ? undefined : await indexOf(op.name);
      return (await listAddresses(index)).map((a) => `${formatIPv4(a.ip)}/${a.prefixLen}`);
    }
    case 'replaceRoute':
      return replaceRoute(await routeSpec(op));
    case 'deleteRoute':
      return deleteRouteIfPresent(await routeSpec(op));
    case 'listRoutes':
      return (await listRoutes({
        ...(op.dev !== undefined ? { oif: await indexOf(op.dev) } : {}),
        ...(op.protocol !== undefined ? { protocol: Number(op.protocol) } : {}),
      })).map(showRoute);
    case 'getRoute':
      return showRoute(await getRoute(need(parseIPv4(String(op.dst)), 'bad dst')));
    case 'chooseIface':
      return chooseExternalInterface({
        iface: (op.iface as string[] | undefined) ?? [],
        ifaceRegex: (op.ifaceRegex as string[] | undefined) ?? [],
        ...(op.ifaceCanReach !== undefined ? { ifaceCanReach: String(op.ifaceCanReach) } : {}),
        ...(op.publicIP !== undefined ? { publicIP: String(op.publicIP) } : {}),
      });
    case 'burst':
      return burst(op);
    case 'batch':
      return batch(op);
    default:
      throw new Error(`helper: unknown op ${op.op}`);
  }
}

async function main(): Promise<void> {
  const ops = JSON.parse(process.argv[2] ?? '[]') as Op[];
  const results: unknown[] = [];
  for (const op of ops) {
    try {
      results.push({ ok: true, value: (await run(op)) ?? null });
    } catch (err) {
      results.push({ ok: false, code: err instanceof NetlinkError ? err.code : 'HELPER', message: (err as Error).message });
    }
  }
  sharedRtSocket().close();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

void main();
