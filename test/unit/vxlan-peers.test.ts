import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCidr, parseIPv4 } from '../../src/net/ipv4.js';
import type { Lease, LeaseAttrs } from '../../src/subnet/lease.js';
import { normaliseMac, peerChanged, readVxlanPeer, type VxlanPeer } from '../../src/backend/vxlan/peers.js';
import { peerIntact, planVxlanResync, type KernelSnapshot, type ProgrammedPeer } from '../../src/backend/vxlan/reconcile.js';
import { vxlanIncompatibility, type VxlanLinkAttrs, type VxlanLinkSpec } from '../../src/netlink/vxlan.js';
import type { KernelRoute } from '../../src/netlink/routes.js';

function lease(subnet: string, attrs: Partial<LeaseAttrs>): Lease {
  return {
    subnet: parseCidr(subnet)!,
    attrs: { publicIP: '192.0.2.12', publicIPv6: null, ...attrs },
    expiration: null, etcdLeaseId: '0', revision: '1',
  };
}

const ip = (s: string): number => parseIPv4(s)!;

test('a vxlan lease becomes a peer: subnet address, PublicIP, VtepMAC (case-insensitive keys, as Go reads them)', () => {
  const r = readVxlanPeer(lease('10.5.34.0/24', { backendType: 'vxlan', backendData: { vni: 1, vtepmac: 'AA-BB-CC-00-00-02' } }));
  assert.equal(r.kind, 'peer');
  assert.deepEqual(r.kind === 'peer' && r.peer, {
    subnet: parseCidr('10.5.34.0/24'), key: '10.5.34.0/24', subnetIP: '10.5.34.0', publicIP: '192.0.2.12',
    vtepMac: 'aa:bb:cc:00:00:02', vni: 1,
  });
});

test('leases of other backend types, and vxlan leases without a usable MAC or IP, are ignored with a reason', () => {
  const cases: Array<[Partial<LeaseAttrs>, RegExp]> = [
    [{ backendType: 'host-gw' }, /BackendType "host-gw", not vxlan/],
    [{}, /BackendType "", not vxlan/],
    [{ backendType: 'vxlan' }, /no vxlan BackendData/],
    [{ backendType: 'vxlan', backendData: { VNI: 1 } }, /VtepMAC undefined/],
    [{ backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'zz' } }, /VtepMAC "zz"/],
    [{ backendType: 'vxlan', publicIP: 'nope', backendData: { VtepMAC: '02:00:00:00:00:01' } }, /PublicIP "nope"/],
  ];
  for (const [attrs, re] of cases) {
    const r = readVxlanPeer(lease('10.5.34.0/24', attrs));
    assert.equal(r.kind, 'ignored');
    assert.match(r.kind === 'ignored' ? r.reason : '', re);
  }
});

test('normaliseMac accepts any 6-byte MAC with : or - and prints it lower case', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.constantFrom(':', '-'), fc.boolean(), (b, sep, upper) => {
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0'));
    const text = hex.join(sep);
    assert.equal(normaliseMac(upper ? text.toUpperCase() : text), hex.join(':'));
  }));
  assert.equal(normaliseMac('aa:bb:cc:dd:ee'), null);
  assert.equal(normaliseMac('aa:bb:cc:dd:ee:ff:00'), null);
});

const peer = (n: number, mac = `02:00:00:00:00:0${n}`): VxlanPeer => ({
  subnet: parseCidr(`10.5.${n}.0/24`)!, key: `10.5.${n}.0/24`, subnetIP: `10.5.${n}.0`, publicIP: `192.0.2.${10 + n}`,
  vtepMac: mac, vni: 1,
});

test('a peer counts as changed only when its VtepMAC or PublicIP changed', () => {
  assert.equal(peerChanged(peer(1), peer(1)), false);
  assert.equal(peerChanged(peer(1), { ...peer(1), vni: 2 }), false);
  assert.equal(peerChanged(peer(1), peer(1, '02:00:00:00:00:99')), true);
  assert.equal(peerChanged(peer(1), { ...peer(1), publicIP: '192.0.2.99' }), true);
});

const DEV = 7;

function route(dst: string, gw: string | null, oif: number | null, onlink: boolean): KernelRoute {
  return { dst: parseCidr(dst)!, gateway: gw === null ? null : ip(gw), oif, table: 254, protocol: 3, scope: 0, type: 1,
    onlink, priority: null, prefsrc: null };
}

function intactSnapshot(peers: VxlanPeer[]): KernelSnapshot {
  return {
    arp: peers.map((p) => ({ ip: ip(p.subnetIP), mac: p.vtepMac, permanent: true })),
    fdb: peers.map((p) => ({ mac: p.vtepMac, dst: ip(p.publicIP), permanent: true, self: true })),
    routes: [route('0.0.0.0/0', '192.0.2.1', 2, false), ...peers.map((p) => route(p.key, p.subnetIP, DEV, true))],
  };
}

const programmed = (peers: VxlanPeer[], direct = false): Map<string, ProgrammedPeer> =>
  new Map(peers.map((p) => [p.key, { peer: p, direct }]));

test('resync plan: nothing to do when the kernel has exactly the entries', () => {
  const peers = [peer(1), peer(2), peer(3)];
  assert.deepEqual(planVxlanResync(programmed(peers), DEV, intactSnapshot(peers), true),
    { reprogram: [], staleArp: [], staleFdb: [], staleRoutes: [] });
});

test('resync plan: any missing or wrong entry reprograms that peer only', () => {
  const peers = [peer(1), peer(2), peer(3)];
  const k = intactSnapshot(peers);
  const variants: Array<[string, KernelSnapshot]> = [
    ['no arp', { ...k, arp: k.arp.filter((a) => a.ip !== ip('10.5.2.0')) }],
    ['stale arp mac', { ...k, arp: k.arp.map((a) => (a.ip === ip('10.5.2.0') ? { ...a, mac: '02:00:00:00:00:99' } : a)) }],
    ['arp not permanent', { ...k, arp: k.arp.map((a) => (a.ip === ip('10.5.2.0') ? { ...a, permanent: false } : a)) }],
    ['no fdb', { ...k, fdb: k.fdb.filter((f) => f.mac !== peer(2).vtepMac) }],
    ['no route', { ...k, routes: k.routes.filter((r) => r.dst.ip !== ip('10.5.2.0')) }],
    ['route not onlink', { ...k, routes: k.routes.map((r) => (r.dst.ip === ip('10.5.2.0') ? { ...r, onlink: false } : r)) }],
    ['route other dev', { ...k, routes: k.routes.map((r) => (r.dst.ip === ip('10.5.2.0') ? { ...r, oif: 2 } : r)) }],
  ];
  for (const [what, snap] of variants) {
    assert.deepEqual(planVxlanResync(programmed(peers), DEV, snap, true).reprogram, ['10.5.2.0/24'], what);
  }
});

test('resync plan: which peers need reprogramming is what a scan of every entry for every peer finds', () => {
  // The plan looks entries up in sets (1000 peers against 1000 entries each); this is the plain scan it replaced.
  const scan = (peers: Map<string, ProgrammedPeer>, k: KernelSnapshot): string[] => [...peers].filter(([, p]) => !(p.direct
    || (k.arp.some((a) => a.ip === ip(p.peer.subnetIP) && a.mac === p.peer.vtepMac && a.permanent)
      && k.fdb.some((f) => f.mac === p.peer.vtepMac && f.dst === ip(p.peer.publicIP))))).map(([key]) => key);
  const n = fc.integer({ min: 1, max: 6 });
  fc.assert(fc.property(fc.uniqueArray(n, { maxLength: 6 }), fc.array(fc.tuple(n, n, fc.boolean()), { maxLength: 8 }),
    fc.array(fc.tuple(n, n), { maxLength: 8 }), (ids, arp, fdb) => {
      const peers = ids.map((i) => peer(i));
      const k: KernelSnapshot = {
        arp: arp.map(([a, m, permanent]) => ({ ip: ip(`10.5.${a}.0`), mac: `02:00:00:00:00:0${m}`, permanent })),
        fdb: fdb.map(([m, d]) => ({ mac: `02:00:00:00:00:0${m}`, dst: ip(`192.0.2.${10 + d}`), permanent: true, self: true })),
        // Every route intact: only the neighbour entries decide.
        routes: peers.map((p) => route(p.key, p.subnetIP, DEV, true)),
      };
      assert.deepEqual(planVxlanResync(programmed(peers), DEV, k, false).reprogram, scan(programmed(peers), k));
    }), { numRuns: 300 });
});

test('resync plan: entries no peer backs are stale, only once the peer list is complete, and only permanent ones', () => {
  const peers = [peer(1)];
  const k = intactSnapshot([peer(1), peer(4)]);
  const withKernelEntry = { ...k, arp: [...k.arp, { ip: ip('10.5.9.9'), mac: '02:00:00:00:00:aa', permanent: false }] };
  const plan = planVxlanResync(programmed(peers), DEV, withKernelEntry, true);
  assert.deepEqual(plan.reprogram, []);
  assert.deepEqual(plan.staleArp, [ip('10.5.4.0')]);
  assert.deepEqual(plan.staleFdb, [{ mac: peer(4).vtepMac, dst: ip(peer(4).publicIP) }]);
  assert.deepEqual(plan.staleRoutes.map((r) => r.dst), [parseCidr('10.5.4.0/24')], 'the default route on another device stays');
  assert.deepEqual(planVxlanResync(programmed(peers), DEV, k, false), { reprogram: [], staleArp: [], staleFdb: [], staleRoutes: [] });
});

test('resync plan: a DirectRouting peer needs only its route via the PublicIP', () => {
  const p = peer(2);
  const k: KernelSnapshot = { arp: [], fdb: [], routes: [route(p.key, p.publicIP, 2, false)] };
  assert.equal(peerIntact({ peer: p, direct: true }, DEV, k), true);
  assert.equal(peerIntact({ peer: p, direct: true }, DEV, { ...k, routes: [route(p.key, p.subnetIP, DEV, true)] }), false);
  assert.deepEqual(planVxlanResync(programmed([p], true), DEV, k, true).staleRoutes, []);
});

const spec: VxlanLinkSpec = { name: 'flannel.1', vni: 1, localIP: '192.0.2.11', underlayIndex: 2, port: 8472,
  learning: false, gbp: false, mtu: 1450, mac: '02:00:00:00:00:01' };
const attrs: VxlanLinkAttrs = { vni: 1, localIP: '192.0.2.11', groupIP: null, underlayIndex: 2, port: 8472,
  learning: false, gbp: false, l2miss: false, l3miss: false };

test('an existing vxlan device is kept only when compatible, as upstream decides', () => {
  assert.equal(vxlanIncompatibility(attrs, spec), null);
  assert.equal(vxlanIncompatibility({ ...attrs, underlayIndex: 0 }, spec), null, 'no underlay on the device is fine');
  assert.equal(vxlanIncompatibility({ ...attrs, port: 0 }, spec), null, 'no port reported is fine');
  const bad: Array<[Partial<VxlanLinkAttrs>, RegExp]> = [
    [{ vni: 2 }, /VNI 2 ≠ 1/], [{ underlayIndex: 5 }, /underlay/], [{ localIP: '192.0.2.99' }, /local 192\.0\.2\.99/],
    [{ groupIP: '239.1.1.1' }, /group/], [{ l2miss: true }, /l2miss/], [{ port: 4789 }, /port 4789/],
    [{ gbp: true }, /gbp/], [{ learning: true }, /learning/],
  ];
  for (const [change, re] of bad) assert.match(vxlanIncompatibility({ ...attrs, ...change }, spec) ?? '', re);
});
